"""The input folder watcher: what counts as a file ready to publish."""

import contextlib
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashion_pubsub.pipeline.watcher import FolderWatcher

# The watched folder and the queue its ready files go to.
Watched = tuple[Path, "queue.Queue[Path]"]


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Watched]:
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


@pytest.fixture
def settled(watched: Watched) -> Watched:
    """`watched` once its start-up scan has offered the one file already there."""
    assert _drain(watched[1]) == ["already-there.png"]
    return watched


def _drain(ready: "queue.Queue[Path]", settle: float = 0.3) -> list[str]:
    time.sleep(settle)
    names = []
    while not ready.empty():
        names.append(ready.get_nowait().name)
    return names


def test_files_there_at_start_written_in_place_or_renamed_in_are_ready(
    watched: Watched, tmp_path: Path
) -> None:
    folder, ready = watched
    (folder / "written.png").write_bytes(b"x")
    (folder / ".atomic.png.tmp").write_bytes(b"x")
    os.rename(folder / ".atomic.png.tmp", folder / "atomic.png")
    (tmp_path / "elsewhere.png").write_bytes(b"x")
    os.rename(tmp_path / "elsewhere.png", folder / "moved-in.png")
    assert _drain(ready) == ["already-there.png", "written.png", "atomic.png", "moved-in.png"]


def test_a_steady_stream_of_files_arrives_whole_and_in_order(
    settled: Watched, tmp_path: Path
) -> None:
    # Files 0.3 ms apart: the watcher reads them in coalesced groups (streaming), and a
    # file after a pause on its own; none may be lost, doubled or reordered.
    folder, ready = settled
    staging = tmp_path / "staging"
    staging.mkdir()
    names = [f"{i}.png" for i in range(400)] + ["after-a-pause.png"]
    for name in names:
        (staging / name).write_bytes(b"x")
    for name in names[:-1]:
        os.rename(staging / name, folder / name)
        time.sleep(0.0003)
    time.sleep(0.05)
    os.rename(staging / names[-1], folder / names[-1])
    assert _drain(ready) == names


def test_hidden_temporary_read_or_removed_files_are_not(settled: Watched, tmp_path: Path) -> None:
    folder, ready = settled
    (folder / ".hidden.png").write_bytes(b"x")
    (folder / "download.png.part").write_bytes(b"x")
    (folder / "already-there.png").read_bytes()
    os.rename(folder / "already-there.png", tmp_path / "moved-out.png")
    (folder / "download.png.part").unlink()
    assert _drain(ready) == []


class _HeldQueue(queue.Queue[Path]):
    """A queue whose producers wait until it is released: meanwhile the watcher stops
    reading inotify, as behind a consumer that has fallen far behind."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()
        self.open.set()

    def put(self, item: Path, block: bool = True, timeout: float | None = None) -> None:
        self.open.wait()
        super().put(item, block, timeout)


@pytest.mark.skipif(sys.platform != "linux", reason="inotify's event queue")
def test_files_whose_events_the_kernel_dropped_are_found_by_a_rescan(tmp_path: Path) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    count = limit + 1000
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path  # fast file creation
    try:
        folder, staging = base / "input", base / "staging"
        folder.mkdir()
        staging.mkdir()
        for i in range(count):
            (staging / f"{i}.png").touch()
        ready = _HeldQueue()
        watcher = FolderWatcher(folder, ready)
        watcher.start()
        try:
            ready.open.clear()
            for i in range(count):
                os.rename(staging / f"{i}.png", folder / f"{i}.png")
            ready.open.set()
            seen: set[str] = set()
            deadline = time.monotonic() + 60
            while len(seen) < count and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    seen.add(ready.get(timeout=1).name)
        finally:
            watcher.stop()
        assert len(seen) == count
    finally:
        if base != tmp_path:
            shutil.rmtree(base)


def test_links_pipes_and_folders_created_in_the_folder_are_ready(
    settled: Watched, tmp_path: Path
) -> None:
    folder, ready = settled
    (tmp_path / "elsewhere.png").write_bytes(b"x")
    os.link(tmp_path / "elsewhere.png", folder / "hard.png")  # no write, no close: IN_CREATE
    (folder / "soft.png").symlink_to(tmp_path / "elsewhere.png")
    os.mkfifo(folder / "pipe.png")
    (folder / "x.png").mkdir()
    (folder / ".hidden-link.png").symlink_to(tmp_path / "elsewhere.png")
    assert _drain(ready) == ["hard.png", "soft.png", "pipe.png", "x.png"]


def test_a_new_file_counts_once_when_its_writer_closes_it(
    settled: Watched,
) -> None:
    folder, ready = settled
    with (folder / "slow.png").open("wb") as file:  # created (IN_CREATE), then written
        file.write(b"x")
        assert _drain(ready, settle=0.2) == []
    assert _drain(ready) == ["slow.png"]


def test_the_start_up_scan_offers_every_entry(tmp_path: Path) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    os.mkfifo(folder / "pipe.png")
    (folder / "x.png").mkdir()
    (folder / "a.png").write_bytes(b"x")
    ready: queue.Queue[Path] = queue.Queue()
    watcher = FolderWatcher(folder, ready)
    watcher.start()
    try:
        assert _drain(ready) == ["a.png", "pipe.png", "x.png"]
    finally:
        watcher.stop()
