"""Writing `<stem>-<Class>.png` into the output folder: never outside it, never over
another image's file, never half written.

Each file is written under a temporary name (`.<name>.<pid>.tmp`) and then claimed with
a hard link to its final name, which fails if the name exists: of two subscribers racing
for one name, exactly one gets it, and the other finds the same bytes there (the same
image: done) or other bytes (another image: it takes the next name). A rename would
silently replace the first one's file.
"""

import errno
import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fashion_pubsub.classes import safe_class_name
from fashion_pubsub.data.png import encode_grayscale_png
from fashion_pubsub.files import writer_alive
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.errors import OutputPathError
from fashion_pubsub.pipeline.wire import safe_stem

logger = logging.getLogger(__name__)

_IMAGE_ID = re.compile(r"[0-9a-f]{32}")
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.tmp")
_MORE_NAMES = 100  # `-<tag>-2` ... : for 48-bit tag collisions, in practice never used
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def write_output(
    folder: Path, source_file: str, image_id: str, class_name: str, pixels: np.ndarray
) -> Path:
    """Write the predicted image and return its path.

    The name is `<stem>-<Class>.png` as in the old design. The same image written again
    (a redelivery) lands on the same file; a different image with the same name gets
    `-<tag>` added, `tag` being the image id's first 12 characters (or a digest of an id
    that is not 32 hex digits), instead of overwriting it.

    A name that would resolve outside `folder` (a symbolic link planted there, say) is
    skipped like a taken one.

    Raises:
        OutputPathError: every candidate name is taken by other images or unsafe.
    """
    # Stored, not compressed: zlib's set-up made even level 1 cost ~15 µs per image, and
    # the 870-byte file takes the same 4 KB block on disk as a 600-byte one would.
    data = encode_grayscale_png(pixels, level=0)
    tag = _tag(image_id)
    base = f"{safe_stem(source_file, tag)}-{safe_class_name(class_name)}"
    root = _resolved(folder)
    for name in _names(base, tag):
        if not _plain(name):
            continue
        target = root / name
        if _claim(target, data):
            return target
    raise OutputPathError(f"{folder / base}: every name is taken by other images or unsafe")


def _tag(image_id: str) -> str:
    """Text from the (untrusted) image id that is safe in a file name."""
    if _IMAGE_ID.fullmatch(image_id):
        return image_id[:12]
    return hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _names(base: str, tag: str) -> Iterator[str]:
    yield f"{base}.png"
    yield f"{base}-{tag}.png"
    for n in range(2, _MORE_NAMES):
        yield f"{base}-{tag}-{n}.png"


@functools.lru_cache(maxsize=16)
def _resolved(folder: Path) -> Path:
    """The output folder with every link resolved, once: it took ~30 µs per image."""
    return folder.resolve()


def _plain(name: str) -> bool:
    """Whether `name` is one plain component, so that `root / name` is a direct child of
    the resolved `root`. Then only a symbolic link at `name` itself could lead elsewhere,
    and `_claim` never follows one: the hard link fails on any existing name, and an
    existing one is opened with O_NOFOLLOW."""
    if "/" in name or "\0" in name or name in ("", ".", ".."):  # never from safe_stem
        log_event(logger, "output_name_unsafe", logging.WARNING, name=name)
        return False
    return True


def _claim(target: Path, data: bytes) -> bool:
    """Put `data` at `target` unless another file is there. True if `target` now holds
    `data` (written now, or by an earlier delivery of the same image)."""
    temporary = _write_temporary(target, data)
    try:
        os.link(temporary, target)  # atomic, and never replaces an existing name
        return True
    except FileExistsError:
        if os.path.islink(target):
            log_event(logger, "output_name_unsafe", logging.WARNING, name=target.name)
            return False
        return _holds(target, data)
    finally:
        os.unlink(temporary)


def _write_temporary(target: Path, data: bytes) -> str:
    # Strings: pathlib's with_name took ~3 µs here, os.path.split ~1.
    folder, _, name = os.fspath(target).rpartition("/")
    temporary = f"{folder}/.{name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW
    try:
        fd = os.open(temporary, flags, 0o644)
    except FileExistsError:  # left by a killed process that had our pid: ours to replace
        os.unlink(temporary)
        fd = os.open(temporary, flags, 0o644)
    # os-level calls: one small file per image, and buffered file objects double the cost.
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if written == 0:
                raise OSError(errno.ENOSPC, "no room left to write", str(temporary))
            view = view[written:]
    except BaseException:
        os.close(fd)
        os.unlink(temporary)
        raise
    os.close(fd)
    return temporary


def _holds(target: Path, data: bytes) -> bool:
    try:
        fd = os.open(target, os.O_RDONLY | _NO_FOLLOW)
    except OSError:  # a symbolic link or something else: not our image
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    except OSError:  # a directory, say
        return False
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the `.<name>.<pid>.tmp` files left in `folder` by killed writers; returns them.

    A file whose process still runs is another subscriber's write in progress and stays.
    This process writes none yet (call it at start), so its own pid's are stale too: in a
    container the restarted subscriber often gets the pid of the one killed.
    """
    removed = []
    for entry in os.scandir(folder):
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and writer_alive(pid):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:  # another subscriber starting beside us took it first
            continue
        removed.append(Path(entry.path))
    return removed
