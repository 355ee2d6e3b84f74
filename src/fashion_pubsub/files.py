"""File helpers shared by the pipeline and the demo: atomic writes, and moves that never
overwrite, never move a file other than the one meant, and work across file systems.

Names are bytes on Linux. Python hands undecodable bytes over as lone surrogates
(`os.fsdecode`), so every name here round-trips exactly; `fitting_name` keeps names
within the kernel's 255-byte limit, deterministically.
"""

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

NAME_MAX = 255  # bytes in one path component (ext4, xfs, tmpfs, btrfs)
_COPY_CHUNK = 1 << 20
_LONGEST_EXTENSION = 32  # bytes; a longer "extension" is just part of the name


class FileIdentity(NamedTuple):
    """What makes "the same file": its inode, and its size and modification time (a
    file rewritten in place keeps its inode but not both of those). A tuple: the
    publisher builds and compares two per file, ~0.2 µs each against ~0.5 for a frozen
    dataclass, and compared in C.

    Args:
        device: st_dev.
        inode: st_ino.
        size: st_size in bytes.
        mtime_ns: st_mtime_ns.
    """

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> "FileIdentity":
        """The identity in a stat result (of `os.lstat`, `os.fstat` or `os.stat`)."""
        return cls(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)

    def same_inode(self, other: "FileIdentity") -> bool:
        return (self.device, self.inode) == (other.device, other.inode)


def identity(path: Path) -> FileIdentity:
    """The identity of `path` itself (a symbolic link is not followed)."""
    return FileIdentity.of(os.lstat(path))


def writer_alive(pid: int) -> bool:
    """Whether process `pid` runs: the writer named in a temporary file's name is still
    writing it. Any user can name a file, so any number is taken (one beyond every pid
    is no process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but another user's
        return True
    except OverflowError:  # not a pid at all
        return False
    return True


def fitting_name(stem: str, suffix: str = "") -> str:
    """`stem + suffix` if it fits in NAME_MAX bytes, else `stem` cut at a character
    boundary plus `~` and 16 hex digits of its hash, then `suffix`: the same inputs always
    give the same name, and two long stems that share their start still differ."""
    whole = stem + suffix
    if len(os.fsencode(whole)) <= NAME_MAX:
        return whole
    tail = f"~{hashlib.sha256(os.fsencode(stem)).hexdigest()[:16]}{suffix}"
    room = NAME_MAX - len(os.fsencode(tail))
    cut = stem
    while cut and len(os.fsencode(cut)) > room:
        cut = cut[:-1]
    return cut + tail


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a hidden temporary file beside `path`, then rename it into place."""
    tmp = path.with_name(fitting_name(f".{path.name}.{os.getpid()}", ".tmp"))
    # os-level calls: the pipeline writes one small file per image, and Python's
    # buffered file objects would double the cost of each.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def move_unique(path: Path, folder: Path, expected: FileIdentity | None = None) -> Path | None:
    """Move `path` into `folder` under its name, or a numbered variant if that is taken.

    Never overwrites. When `expected` is given, moves only that file: if `path` is now
    another file (replaced or rewritten since), it is left where it is and None is
    returned. Across file systems the file is copied, synced, linked into place and only
    then removed, so a crash leaves it in one place or both, never in neither.

    Args:
        path: the file (or link, or other entry) to move.
        folder: the destination folder, created if missing.
        expected: the identity the file had when it was read.

    Raises:
        FileNotFoundError: `path` is gone.
        OSError: the move is impossible (permissions, a special file across file systems).
    """
    for candidate in candidates(folder, path.name):
        try:
            _link(path, candidate)  # fails if the name exists: no overwrite, even in a race
        except FileExistsError:
            continue
        except OSError as exc:
            status = os.lstat(path)
            if expected is not None and FileIdentity.of(status) != expected:
                return None
            if exc.errno == errno.EXDEV:
                return _copy_across(path, status, folder)
            return _rename_unique(path, folder)  # no hard links here (a folder, say)
        # The link is the file itself, so checking it (not `path`) leaves no gap in which
        # a replacement could slip through unnoticed.
        if expected is not None and identity(candidate) != expected:
            os.unlink(candidate)  # another file by now: not the one that was read
            return None
        os.unlink(path)
        return candidate
    raise FileExistsError(f"no free name for {path.name} in {folder}")


def find_copy(path: Path, folder: Path) -> Path | None:
    """The file in `folder` that a move of `path` left behind when it was interrupted
    after the link (or copy) and before the removal: the same inode, or on another file
    system the same size, modification time and bytes. None if there is none."""
    mine = identity(path)
    for candidate in candidates(folder, path.name):
        try:
            theirs = identity(candidate)
        except FileNotFoundError:
            return None  # moves take the first free name: nothing of ours lies beyond
        if theirs.same_inode(mine) or _same_copy(path, mine, candidate, theirs):
            return candidate
    return None


def candidates(folder: Path, name: str) -> Iterator[Path]:
    """`name`, then `stem-1.ext`, `stem-2.ext`, ..., each within NAME_MAX bytes."""
    yield folder / fitting_name(name)
    stem, dot, suffix = name.rpartition(".")
    extension = f".{suffix}"
    if not (dot and stem) or len(os.fsencode(extension)) > _LONGEST_EXTENSION:
        stem, extension = name, ""
    for i in range(1, 10_000):
        yield folder / fitting_name(stem, f"-{i}{extension}")


def _same_copy(path: Path, mine: FileIdentity, candidate: Path, theirs: FileIdentity) -> bool:
    if (mine.size, mine.mtime_ns) != (theirs.size, theirs.mtime_ns) or mine.device == theirs.device:
        return False
    if not (stat.S_ISREG(os.lstat(path).st_mode) and stat.S_ISREG(os.lstat(candidate).st_mode)):
        return False
    return _read_no_follow(path) == _read_no_follow(candidate)


def _read_no_follow(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        return file.read()


def _link(path: Path, target: Path) -> None:
    # follow_symlinks=False: a symbolic link is moved as a link, never as what it names.
    try:
        os.link(path, target, follow_symlinks=False)
    except FileNotFoundError:
        if not os.path.lexists(path):
            raise
        target.parent.mkdir(parents=True, exist_ok=True)  # only when missing: once per folder
        os.link(path, target, follow_symlinks=False)


def _rename_unique(path: Path, folder: Path) -> Path | None:
    folder.mkdir(parents=True, exist_ok=True)
    for candidate in candidates(folder, path.name):
        if not os.path.lexists(candidate):
            try:
                os.replace(path, candidate)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                return _copy_across(path, os.lstat(path), folder)
            return candidate
    raise FileExistsError(f"no free name for {path.name} in {folder}")


def _copy_across(path: Path, status: os.stat_result, folder: Path) -> Path | None:
    """Copy to a hidden name in `folder`, sync, link it to a free name, then remove the
    original if it is still the file that was copied."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / fitting_name(f".{path.name}.{os.getpid()}", ".tmp")
    if stat.S_ISLNK(status.st_mode):
        os.symlink(os.readlink(path), tmp)
    elif stat.S_ISREG(status.st_mode):
        if not _copy_file(path, status, tmp):
            return None
    else:
        raise OSError(errno.EXDEV, "only files and links can be moved to another file system")
    try:
        target = _link_first_free(tmp, folder, path.name)
    finally:
        os.unlink(tmp)
    _sync_folder(folder)
    try:
        if identity(path) == FileIdentity.of(status):
            os.unlink(path)  # else it was replaced meanwhile: the new file stays for its turn
    except FileNotFoundError:
        pass  # removed by someone else meanwhile: the copy is all that is left
    return target


def _copy_file(path: Path, status: os.stat_result, tmp: Path) -> bool:
    source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if FileIdentity.of(os.fstat(source)) != FileIdentity.of(status):
            return False  # replaced meanwhile: the caller's file is gone
        target = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            while chunk := os.read(source, _COPY_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(target, view) :]  # a short write continues
            os.fsync(target)
        finally:
            os.close(target)
    finally:
        os.close(source)
    # The copy keeps the original's time, so a restart recognises it (see find_copy).
    os.utime(tmp, ns=(status.st_atime_ns, status.st_mtime_ns), follow_symlinks=False)
    return True


def _link_first_free(tmp: Path, folder: Path, name: str) -> Path:
    for candidate in candidates(folder, name):
        try:
            os.link(tmp, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
