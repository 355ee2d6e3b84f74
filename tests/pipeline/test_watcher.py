"""The input folder watcher: what counts as a file ready to publish."""

import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashion_pubsub.pipeline.watcher import FolderWatcher


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, "queue.Queue[Path]"]]:
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "already-there.png").write_bytes(b"x")
    ready: queue.Queue[Path] = queue.Queue()
    watcher = FolderWatcher(folder, ready)
    watcher.start()
    try:
        yield folder.resolve(), ready
    finally:
        watcher.stop()


def _drain(ready: "queue.Queue[Path]", settle: float = 0.3) -> list[str]:
    time.sleep(settle)
    names = []
    while not ready.empty():
        names.append(ready.get_nowait().name)
    return names


def test_files_there_at_start_written_in_place_or_renamed_in_are_ready(
    watched: tuple[Path, "queue.Queue[Path]"], tmp_path: Path
) -> None:
    folder, ready = watched
    (folder / "written.png").write_bytes(b"x")
    (folder / ".atomic.png.tmp").write_bytes(b"x")
    os.rename(folder / ".atomic.png.tmp", folder / "atomic.png")
    (tmp_path / "elsewhere.png").write_bytes(b"x")
    os.rename(tmp_path / "elsewhere.png", folder / "moved-in.png")
    assert _drain(ready) == ["already-there.png", "written.png", "atomic.png", "moved-in.png"]


def test_hidden_temporary_read_or_removed_files_are_not(
    watched: tuple[Path, "queue.Queue[Path]"], tmp_path: Path
) -> None:
    folder, ready = watched
    assert _drain(ready) == ["already-there.png"]
    (folder / ".hidden.png").write_bytes(b"x")
    (folder / "download.png.part").write_bytes(b"x")
    (folder / "already-there.png").read_bytes()
    os.rename(folder / "already-there.png", tmp_path / "moved-out.png")
    (folder / "download.png.part").unlink()
    assert _drain(ready) == []
