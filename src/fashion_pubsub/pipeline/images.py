"""Reading an input file into 28x28 uint8 pixels, or saying exactly why not.

This is the boundary for files: whatever a name points to and whatever its bytes are,
`load_image` returns a typed image or raises `RejectedFileError` with the reason.
"""

import io
import os
import stat
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from fashion_pubsub.data.png import decode_plain_grayscale_png, label_from_text, read_label
from fashion_pubsub.files import FileIdentity
from fashion_pubsub.pipeline.errors import RejectedFileError

ACCEPTED_FORMATS = ("PNG", "JPEG")
_GRAYSCALE_CONVERTIBLE = ("L", "RGB", "RGBA", "P", "PA", "LA", "1", "CMYK")
# O_NONBLOCK: opening a named pipe must never wait for a writer (a FIFO swapped in after
# the lstat); O_NOFOLLOW: nor may a link swapped in be followed.
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISDIR, "a folder, not a file"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a file"),
    (stat.S_ISSOCK, "a socket, not a file"),
    (stat.S_ISCHR, "a character device, not a file"),
    (stat.S_ISBLK, "a block device, not a file"),
)


class LoadedImage(NamedTuple):
    """An input file's image.

    Args:
        pixels: [28, 28] uint8.
        label: the true class a converted PNG carries, or None.
        identity: the file as it was read, so that only this file is moved afterwards.
        changed_at: the file's change time (Unix seconds) as it was read: when it
            appeared in the folder, since a rename into it and the last write both set it.
    """

    pixels: np.ndarray
    label: int | None
    identity: FileIdentity
    changed_at: float


def load_image(path: Path, max_bytes: int) -> LoadedImage:
    """The pixels of `path`, and the true label a converted PNG carries (or None).

    Only regular files are opened. RGB(A) and palette images are converted to grayscale
    (alpha is dropped). The size is checked from the header before any pixel is decoded,
    so a huge image costs nothing. A plain 28x28 grayscale PNG, as `convert` writes, is
    read without Pillow (4x less CPU).

    Raises:
        FileNotFoundError: the file is gone (handled already).
        RejectedFileError: the reason the file cannot be used.
    """
    data, opened = _read(path, max_bytes)
    identity = FileIdentity.of(opened)
    plain = decode_plain_grayscale_png(data)
    if plain is not None and plain[0].shape == (28, 28):
        pixels, text = plain
        return LoadedImage(pixels, label_from_text(text), identity, opened.st_ctime)
    try:
        pixels, label = _decode(path, data)
    except RejectedFileError as exc:
        raise RejectedFileError(path, exc.reason, identity, unfinished=exc.unfinished) from exc
    return LoadedImage(pixels, label, identity, opened.st_ctime)


def _decode(path: Path, data: bytes) -> tuple[np.ndarray, int | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image:
            _check_header(path, image)
            image.load()
            label = read_label(image)
            gray = image if image.mode == "L" else image.convert("L")
            return np.asarray(gray, dtype=np.uint8), label
    except RejectedFileError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise RejectedFileError(
            path, "image far larger than 28x28 (decompression bomb guard)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise RejectedFileError(path, "not a PNG or JPEG image", unfinished=True) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = f"damaged or truncated image ({exc})"
        raise RejectedFileError(path, reason, unfinished=True) from exc


def _read(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes and its status as opened (a link or anything but a regular file
    is rejected, also one swapped in between the look and the open)."""
    status = os.lstat(path)
    _check_kind(path, status)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RejectedFileError(path, f"cannot be opened ({exc.strerror})") from exc
    try:
        opened = os.fstat(fd)
        _check_kind(path, opened)  # swapped for something else since the lstat
        if opened.st_size == 0:
            reason = "empty file (0 bytes)"
            raise RejectedFileError(path, reason, FileIdentity.of(opened), unfinished=True)
        if opened.st_size > max_bytes:
            reason = f"{opened.st_size} bytes is over the {max_bytes}-byte limit for a 28x28 image"
            raise RejectedFileError(path, reason, FileIdentity.of(opened))
        data = _read_at_most(fd, opened.st_size)  # what has grown since is not read
    except OSError as exc:
        raise RejectedFileError(path, f"cannot be read ({exc.strerror})") from exc
    finally:
        os.close(fd)
    return data, opened


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _check_kind(path: Path, status: os.stat_result) -> None:
    """Only regular files are images; anything else is named, and never opened."""
    if stat.S_ISREG(status.st_mode):
        return
    identity = FileIdentity.of(status)
    if stat.S_ISLNK(status.st_mode):
        raise RejectedFileError(
            path,
            "a symbolic link; links are not followed (a link could make the publisher read "
            "any file it can read): copy or hard-link the file into the folder instead",
            identity,
        )
    reason = next((text for test, text in _KINDS if test(status.st_mode)), "not a regular file")
    raise RejectedFileError(path, reason, identity)


def _check_header(path: Path, image: Image.Image) -> None:
    if image.format not in ACCEPTED_FORMATS:
        raise RejectedFileError(path, f"{image.format} images are not accepted; use PNG or JPEG")
    if image.size != (28, 28):
        width, height = image.size
        raise RejectedFileError(
            path, f"{width}x{height} pixels; Fashion-MNIST images are 28x28 (resize it first)"
        )
    if image.mode not in _GRAYSCALE_CONVERTIBLE:
        raise RejectedFileError(
            path,
            f"pixel mode {image.mode} (for example 16-bit) is not "
            "supported; save it as 8-bit grayscale or RGB",
        )
