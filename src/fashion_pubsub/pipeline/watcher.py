"""Which files in the input folder are ready: those there at start, then each file that
is closed after writing or renamed into the folder (inotify via watchdog, no polling)."""

import queue
import sys
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

_TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", "~")


def is_candidate(path: Path) -> bool:
    """Not hidden, not a temporary file, not a `.reason` note."""
    name = path.name
    return not (
        name.startswith(".") or name.endswith(_TEMPORARY_SUFFIXES) or name.endswith(".reason")
    )


class _Enqueue(FileSystemEventHandler):
    def __init__(self, folder: Path, ready: "queue.Queue[Path]") -> None:
        self._folder = folder
        self._ready = ready

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileClosedEvent | FileCreatedEvent):
            path = Path(str(event.src_path))
        elif isinstance(event, FileMovedEvent):
            path = Path(str(event.dest_path))
        else:
            return
        if path.parent == self._folder and is_candidate(path):
            self._ready.put(path)


def _arrivals_observer() -> BaseObserver:
    """On Linux: an observer that asks inotify only for files closed after writing and
    for renames into the folder (which watchdog reports as created files).

    Watchdog pairs the two halves of a rename by holding the first for up to 0.5 s, and
    while it holds one, every later event waits behind it: measured here, files renamed
    into the folder (the usual atomic write) then reached the publisher in 0.5 s clumps.
    The destination half alone needs no pairing, and reads, deletes and moves out (the
    publisher's own work) no longer wake the watcher at all.
    """
    from watchdog.observers.inotify import InotifyEmitter
    from watchdog.observers.inotify_c import InotifyConstants

    class ArrivalsEmitter(InotifyEmitter):
        def get_event_mask_from_filter(self) -> int:
            return (
                InotifyConstants.IN_CLOSE_WRITE
                | InotifyConstants.IN_MOVED_TO
                | InotifyConstants.IN_DELETE_SELF
            )

    return BaseObserver(ArrivalsEmitter)


class FolderWatcher:
    """Feeds `ready` with files of `folder`: a scan at start, then inotify events.

    Args:
        folder: the input folder (created if missing).
        ready: where paths go; a path may come more than once, callers check it still exists.
    """

    def __init__(self, folder: Path, ready: "queue.Queue[Path]") -> None:
        self._folder = folder.resolve()
        self._ready = ready
        self._events: list[type[FileSystemEvent]] = [FileClosedEvent, FileMovedEvent]
        if sys.platform == "linux":
            self._observer = _arrivals_observer()
            self._events.append(FileCreatedEvent)  # a rename into the folder, see above
        else:
            self._observer = Observer()  # its "created" may be a file still being written

    def start(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(
            _Enqueue(self._folder, self._ready), str(self._folder), event_filter=self._events
        )
        self._observer.start()  # before the scan, so nothing written meanwhile is missed
        for path in sorted(self._folder.iterdir()):
            if path.is_file() and is_candidate(path):
                self._ready.put(path)

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
