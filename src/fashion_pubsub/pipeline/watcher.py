"""Which files in the input folder are ready: those there at start, then each file that
is closed after writing or renamed into the folder (inotify via watchdog, no polling)."""

import queue
from pathlib import Path

from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

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
        if isinstance(event, FileClosedEvent):
            path = Path(str(event.src_path))
        elif isinstance(event, FileMovedEvent):
            path = Path(str(event.dest_path))
        else:
            return
        if path.parent == self._folder and is_candidate(path):
            self._ready.put(path)


class FolderWatcher:
    """Feeds `ready` with files of `folder`: a scan at start, then inotify events.

    Args:
        folder: the input folder (created if missing).
        ready: where paths go; a path may come more than once, callers check it still exists.
    """

    def __init__(self, folder: Path, ready: "queue.Queue[Path]") -> None:
        self._folder = folder.resolve()
        self._ready = ready
        self._observer = Observer()

    def start(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._observer.schedule(_Enqueue(self._folder, self._ready), str(self._folder))
        self._observer.start()  # before the scan, so nothing written meanwhile is missed
        for path in sorted(self._folder.iterdir()):
            if path.is_file() and is_candidate(path):
                self._ready.put(path)

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
