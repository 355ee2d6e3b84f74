"""Where the publisher's files end: published/, or rejected/ with a `.reason` note; and,
at start, finishing the moves that a crash interrupted."""

import contextlib
import logging
import os
from pathlib import Path

from fashion_pubsub.files import find_copy, fitting_name, write_atomically, writer_alive
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.watcher import is_candidate

logger = logging.getLogger(__name__)
REASON_SUFFIX = ".reason"
_LOST_REASON = "rejected, but the publisher stopped before it wrote the reason"


def reason_path(rejected: Path) -> Path:
    """The note beside a rejected file: `<name>.reason`, shortened (with a hash) when
    that would be longer than a file name may be."""
    return rejected.with_name(fitting_name(rejected.name, REASON_SUFFIX))


def write_reason(rejected: Path, reason: str) -> Path:
    """Write the `.reason` note of `rejected` and return its path.

    The first line is the reason. When the note's name had to be shortened, a second
    line names the file it belongs to.
    """
    note = reason_path(rejected)
    text = reason + "\n"
    if note.name != rejected.name + REASON_SUFFIX:
        text += f"file: {rejected.name}\n"
    # backslashreplace: a name that is not UTF-8 is still written, with its bytes as \\xNN.
    write_atomically(note, text.encode("utf-8", "backslashreplace"))
    return note


def remove_stale_copies(folder: Path) -> int:
    """Remove the hidden `.<name>.<pid>.tmp` copies that a publisher killed in the middle
    of a move across file systems left in `folder`; returns how many. A copy whose
    process still runs is in use; this process's own are stale (a restarted container
    often gets the same pid, and this one has not started copying yet)."""
    removed = 0
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    for name in names:
        pid = _temporary_pid(name)
        if pid is None or (pid != os.getpid() and writer_alive(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / name)
            removed += 1
    return removed


def _temporary_pid(name: str) -> int | None:
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    pid = name[: -len(".tmp")].rpartition(".")[2]
    return int(pid) if pid.isascii() and pid.isdigit() else None


def finish_interrupted_moves(input_dir: Path, published: Path, rejected: Path) -> int:
    """Remove each input file that a stopped publisher had already moved: a crash between
    the link (or copy) into published/ or rejected/ and the removal leaves the file in
    both places, and it must not be published again. Returns how many were finished.

    Args:
        input_dir: the watched folder.
        published: where published files go.
        rejected: where rejected files go.
    """
    for folder in (published, rejected):
        remove_stale_copies(folder)
    finished = 0
    try:
        names = sorted(os.listdir(input_dir))
    except FileNotFoundError:
        return 0
    for name in names:
        path = input_dir / name
        if not is_candidate(path) or not os.path.isfile(path) or os.path.islink(path):
            continue
        for folder in (published, rejected):
            copy = find_copy(path, folder)
            if copy is None:
                continue
            os.unlink(path)
            if folder == rejected and not reason_path(copy).exists():
                write_reason(copy, _LOST_REASON)
            log_event(logger, "move_finished", file=name, to=copy)
            finished += 1
            break
    return finished
