"""fetch-data against a local HTTP server on 127.0.0.1 serving the real files."""

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fashion_pubsub.data.errors import ChecksumError, DataError
from fashion_pubsub.data.fetch import MD5, fetch_dataset, md5_of


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()
    server.server_close()


@pytest.fixture
def official_dir(data_dir: Path) -> Path:
    """The data folder, if it holds the official files byte for byte. Debian's package
    holds the same images recompressed, which fetch-data's checksums rightly refuse."""
    recompressed = [name for name in MD5 if md5_of(data_dir / name) != MD5[name]]
    if recompressed:
        pytest.skip(f"{data_dir} holds recompressed copies ({', '.join(recompressed)})")
    return data_dir


@pytest.fixture
def official_mirror(mirror: tuple[str, Path], official_dir: Path) -> tuple[str, Path]:
    """The mirror serving the four official files."""
    url, root = mirror
    for name in MD5:
        shutil.copy(official_dir / name, root / name)
    return url, root


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_downloads_and_verifies_all_four_files(
    official_mirror: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = official_mirror
    target = tmp_path / "data"
    fetched = list(fetch_dataset(target, url))
    assert sorted(p.name for p in fetched) == sorted(MD5)
    assert all(md5_of(p) == MD5[p.name] for p in fetched)
    assert not list(target.glob(".*"))


def test_corrupt_download_is_refused_and_not_kept(
    official_mirror: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = official_mirror
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the file")
    target = tmp_path / "data"
    with pytest.raises(ChecksumError, match="md5"):
        list(fetch_dataset(target, url))
    assert not (target / "t10k-labels-idx1-ubyte.gz").exists()


def test_missing_file_on_the_server_is_a_clear_error(
    mirror: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = mirror
    with pytest.raises(DataError, match="mirror"):
        list(fetch_dataset(tmp_path / "data", url))
