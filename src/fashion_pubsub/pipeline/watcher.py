"""Which files in the input folder are ready: those there at start, then each file that
is closed after writing or renamed into the folder (inotify on Linux, no polling), and
each entry created there that no writer will close: a hard link, a symbolic link, a
named pipe, a socket, a device node or a folder (the publisher rejects all but the first).
"""

import logging
import math
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

logger = logging.getLogger(__name__)
_TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")


def is_candidate(path: Path) -> bool:
    """Not hidden, not a temporary file, not a `.reason` note."""
    name = path.name
    return not (
        name.startswith(".") or name.endswith(_TEMPORARY_SUFFIXES) or name.endswith(".reason")
    )


class _Arrivals(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class _InotifyArrivals:
    """Linux: one thread reads inotify (through inotify_simple) for files closed after
    writing and renames into the folder, and passes each name on.

    Watchdog's observer runs every event through three threads (its inotify buffer, which
    holds the first half of a rename up to 0.5 s to pair it with the second, its emitter
    and its dispatcher). Measured here, files renamed into the folder then reached the
    publisher in 0.5 s clumps, and with 1,600 files a second arriving those threads took
    about a sixth of the publisher's CPU. Only the destination of a rename matters here.

    In a stream of files (the last two reads that found events less than
    `_STREAM_GAP_SECONDS` apart), a read waits `_COALESCE_MS` after the first event for the
    next ones, so one wake-up of this thread and of the publisher serves several files.
    Reading each event as it came cost 77-82 µs of CPU per file at 2,200 files/s and 88 at
    1,000 (this thread, the queue and the consumer's wake-ups, measured alone); waiting
    1 ms, 35-40 and 56. In the pipeline at 1,000 images/s the publisher took ~25 µs less
    per image (docs/benchmarks.md, "Fewer wake-ups per file"). The first file after a pause
    (200 files/s or fewer) goes at once.
    """

    _WAKE_MS = 200  # how soon a stop is noticed
    _COALESCE_MS = 1.0
    _STREAM_GAP_SECONDS = 0.0025

    def __init__(
        self, folder: Path, arrived: Callable[[Path], None], rescan: Callable[[], None]
    ) -> None:
        from inotify_simple import INotify, flags

        self._folder = folder
        self._arrived = arrived
        self._rescan = rescan
        self._inotify = INotify()
        self._inotify.add_watch(folder, flags.CLOSE_WRITE | flags.MOVED_TO | flags.CREATE)
        self._overflow, self._created = flags.Q_OVERFLOW, flags.CREATE
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inotify", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        last_read, streaming = -math.inf, False
        try:
            while not self._stopping.is_set():
                events = self._inotify.read(
                    timeout=self._WAKE_MS, read_delay=self._COALESCE_MS if streaming else None
                )
                if events:
                    now = time.monotonic()
                    streaming, last_read = now - last_read < self._STREAM_GAP_SECONDS, now
                for event in events:
                    if event.mask & self._overflow:
                        self._rescan()  # the kernel dropped events: look at the folder itself
                    elif not event.mask & self._created:
                        self._arrived(self._folder / event.name)
                    elif _complete_on_creation(self._folder / event.name):
                        self._arrived(self._folder / event.name)
        except OSError:
            # Files stay in the folder; the next start's scan finds them.
            logger.exception(
                "watcher_failed folder=%s: new files are not seen until the publisher restarts",
                self._folder,
            )

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._inotify.close()


def _complete_on_creation(path: Path) -> bool:
    """A new entry that is all there is at once: anything but a new plain file, which a
    writer is about to fill and whose close is the signal. A plain file with more than
    one link is a hard link to a file that exists already."""
    if not is_candidate(path):
        return False  # hidden or temporary: the cheap test first, most creations end here
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(status.st_mode) or status.st_nlink > 1


class _Enqueue(FileSystemEventHandler):
    def __init__(self, arrived: Callable[[Path], None]) -> None:
        self._arrived = arrived

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileClosedEvent):
            self._arrived(Path(os.fsdecode(event.src_path)))
        elif isinstance(event, FileMovedEvent):
            self._arrived(Path(os.fsdecode(event.dest_path)))


class _WatchdogArrivals:
    """Other systems: watchdog's observer. Its "created" event may come for a file that is
    still being written, so only closes and renames count."""

    def __init__(
        self, folder: Path, arrived: Callable[[Path], None], rescan: Callable[[], None]
    ) -> None:
        self._observer = Observer()
        self._observer.schedule(
            _Enqueue(arrived), str(folder), event_filter=[FileClosedEvent, FileMovedEvent]
        )

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)


class FolderWatcher:
    """Feeds `ready` with files of `folder`: a scan at start, then inotify events.

    Args:
        folder: the input folder (created if missing).
        ready: where paths go; a path may come more than once, callers check it still exists.
    """

    def __init__(self, folder: Path, ready: "queue.Queue[Path]") -> None:
        self._folder = folder.resolve()
        self._ready = ready
        self._arrivals: _Arrivals | None = None

    def start(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        source = _InotifyArrivals if sys.platform == "linux" else _WatchdogArrivals
        self._arrivals = source(self._folder, self._offer, self._scan)
        self._arrivals.start()  # before the scan, so nothing written meanwhile is missed
        self._scan()

    def _scan(self) -> None:
        # Every entry, not only files: a named pipe or a folder left there is rejected
        # with its reason rather than ignored for ever.
        for name in sorted(os.listdir(self._folder)):
            self._offer(self._folder / name)

    def _offer(self, path: Path) -> None:
        if path.parent == self._folder and is_candidate(path):
            self._ready.put(path)

    def stop(self) -> None:
        if self._arrivals is not None:
            self._arrivals.stop()
