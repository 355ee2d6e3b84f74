"""Downloading the four Fashion-MNIST files from Zalando's official location, md5-checked."""

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx

from fashion_pubsub.data.dataset import FILES
from fashion_pubsub.data.errors import ChecksumError, DataError

OFFICIAL_BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_dataset(
    data_dir: Path, base_url: str = OFFICIAL_BASE_URL, *, progress: bool = False
) -> Iterator[Path]:
    """Download each missing or damaged file into `data_dir` and yield its path once verified.

    Files already present with the right md5 are kept. A download is written to a
    temporary name and renamed only after its md5 matches.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=httpx.Timeout(30.0), follow_redirects=True) as client:
        for name in FILES.values():
            target = data_dir / name
            if not (target.is_file() and md5_of(target) == MD5[name]):
                _download(client, base_url.rstrip("/") + "/" + name, target, progress)
            yield target


def _download(client: httpx.Client, url: str, target: Path, progress: bool) -> None:
    tmp = target.with_name(f".{target.name}.part")
    try:
        with client.stream("GET", url) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length", 0)) or None
            with tmp.open("wb") as out:
                for chunk in _chunks(response, total, target.name, progress):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"downloading {url} failed ({exc}); check the network or pass --base-url for a "
            "mirror, or install the Debian package dataset-fashion-mnist"
        ) from exc
    actual = md5_of(tmp)
    if actual != MD5[target.name]:
        tmp.unlink()
        raise ChecksumError(
            f"{url} has md5 {actual}, expected {MD5[target.name]}: the download is corrupt "
            "or not the official file; try again or use another mirror"
        )
    os.replace(tmp, target)


def _chunks(
    response: httpx.Response, total: int | None, name: str, progress: bool
) -> Iterator[bytes]:
    if not progress:
        yield from response.iter_bytes()
        return
    from rich.progress import Progress

    with Progress() as bar:
        task = bar.add_task(name, total=total)
        for chunk in response.iter_bytes():
            bar.update(task, advance=len(chunk))
            yield chunk
