"""Which files of a folder some process holds open for writing (Linux, through /proc).

A file that looks truncated while a writer still holds it is unfinished, however long
that writer pauses: its close raises `IN_CLOSE_WRITE`, which brings it back. Reading
/proc costs about a microsecond per open file descriptor on the machine, so the answer
is asked for only before rejecting a file as unfinished, and kept for a second.
"""

import os
import time
from pathlib import Path

_ACCESS_MODE = os.O_ACCMODE
_WRITING = (os.O_WRONLY, os.O_RDWR)
_KEEP_SECONDS = 1.0


class OpenWriters:
    """Answers "does a process hold this file open for writing?" for files of one folder.

    Args:
        folder: the folder whose files are asked about.
        proc: the proc file system (a test may point elsewhere).
    """

    def __init__(self, folder: Path, proc: Path = Path("/proc")) -> None:
        self._prefix = str(folder.resolve()) + os.sep
        self._proc = proc
        self._files: frozenset[tuple[int, int]] = frozenset()
        self._taken_at = float("-inf")

    def holds(self, device: int, inode: int) -> bool:
        """True if a process this one can see has the file (device, inode) open for
        writing. Other users' processes are invisible without privileges: then False."""
        now = time.monotonic()
        if now - self._taken_at > _KEEP_SECONDS:
            self._files = frozenset(self._scan())
            self._taken_at = now
        return (device, inode) in self._files

    def _scan(self) -> set[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        try:
            pids = [name for name in os.listdir(self._proc) if name.isdigit()]
        except OSError:
            return found
        for pid in pids:
            fd_folder = self._proc / pid / "fd"
            try:
                fds = os.listdir(fd_folder)
            except OSError:
                continue  # gone, or another user's
            for fd in fds:
                file = self._writing(pid, fd_folder, fd)
                if file is not None:
                    found.add(file)
        return found

    def _writing(self, pid: str, fd_folder: Path, fd: str) -> tuple[int, int] | None:
        try:
            if not os.readlink(fd_folder / fd).startswith(self._prefix):
                return None
            info = (self._proc / pid / "fdinfo" / fd).read_text()
            status = os.stat(fd_folder / fd)
        except OSError:
            return None  # closed meanwhile
        flags = next(
            (line.split()[1] for line in info.splitlines() if line.startswith("flags")), "0"
        )
        if int(flags, 8) & _ACCESS_MODE not in _WRITING:
            return None
        return status.st_dev, status.st_ino
