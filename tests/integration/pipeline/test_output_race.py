"""Two subscriber processes writing the same output names at once never overwrite each
other's different images (a rename would: the claim is a hard link, which cannot)."""

import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fashion_pubsub.data.png import decode_plain_grayscale_png
from fashion_pubsub.pipeline.outputs import write_output


def _write_many(folder: str, seed: int, count: int, start: Any, report: str) -> None:
    """In a child process: write `count` different images named `0.png`, `1.png`, ...
    once both children are ready; report each name and the pixels it should hold."""
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(count)]
    start.wait()
    lines = []
    for i, pixels in enumerate(images):
        path = write_output(Path(folder), f"{i}.png", f"{seed:016x}{i:016x}", "Bag", pixels)
        lines.append(f"{path.name} {pixels.tobytes().hex()}\n")
    Path(report).write_text("".join(lines))


ROOT = Path(__file__).resolve().parents[3]


def test_two_processes_racing_for_the_same_names_never_overwrite_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spawned children import `_write_many` by its module name with the parent's
    # sys.path, which under --import-mode=importlib lacks the repository's root.
    monkeypatch.syspath_prepend(str(ROOT))
    count = 1000
    folder = tmp_path / "out"
    folder.mkdir()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    reports = [tmp_path / "a.txt", tmp_path / "b.txt"]
    children = [
        context.Process(target=_write_many, args=(str(folder), seed, count, start, str(report)))
        for seed, report in zip((1, 2), reports, strict=True)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join()
    assert [child.exitcode for child in children] == [0, 0]
    lines = [line.split() for report in reports for line in report.read_text().splitlines()]
    written = dict(lines)
    assert len(written) == 2 * count, "each image got a name of its own"
    for name, pixels in written.items():
        decoded = decode_plain_grayscale_png((folder / name).read_bytes())
        assert decoded is not None and decoded[0].tobytes().hex() == pixels, name
    assert len(list(folder.iterdir())) == 2 * count, "and no temporary file is left"
