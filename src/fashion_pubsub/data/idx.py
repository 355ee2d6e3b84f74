"""Reading IDX files (the MNIST format), raw or gzip-compressed, with strict checks.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. Fashion-MNIST
uses unsigned bytes (type 0x08): images have three dimensions, labels one.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

from fashion_pubsub.data.errors import IdxFormatError

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path, *, expected_ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file and return its array.

    Args:
        path: the file, raw or gzip-compressed (detected from its first bytes).
        expected_ndim: 3 for image files, 1 for label files.

    Raises:
        IdxFormatError: the file is truncated, has the wrong magic number or the
            wrong number of dimensions.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IdxFormatError(f"{path}: only {len(raw)} bytes, too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != _UBYTE:
        raise IdxFormatError(
            f"{path}: magic number {raw[:4].hex()} is not an unsigned-byte IDX file "
            f"(expected 0000 08 {expected_ndim:02x}); is this the right file?"
        )
    if ndim != expected_ndim:
        kind = "images" if expected_ndim == 3 else "labels"
        raise IdxFormatError(
            f"{path}: has {ndim} dimensions, but {kind} need {expected_ndim}; "
            "were the images and labels files swapped?"
        )
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise IdxFormatError(f"{path}: truncated inside its header")
    dims = struct.unpack(f">{ndim}I", raw[4:header_end])
    expected = int(np.prod(dims))
    payload = len(raw) - header_end
    if payload != expected:
        raise IdxFormatError(
            f"{path}: header says {'x'.join(map(str, dims))} = {expected} bytes of data, "
            f"file holds {payload}; the file is truncated or corrupt, download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_end).reshape(dims)


def read_images(path: Path) -> np.ndarray:
    """Read an images file into an array of shape [N, rows, cols], dtype uint8."""
    return read_idx(path, expected_ndim=3)


def read_labels(path: Path) -> np.ndarray:
    """Read a labels file into an array of shape [N], dtype uint8, values checked to be 0-9."""
    labels = read_idx(path, expected_ndim=1)
    if labels.size and int(labels.max()) > 9:
        raise IdxFormatError(f"{path}: label {int(labels.max())} is not a class 0-9")
    return labels


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching images and labels files and check that their counts agree."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{images_path} has {len(images)} images but {labels_path} has "
            f"{len(labels)} labels; use files from the same split"
        )
    return images, labels


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
            handle.seek(0)
            if head == _GZIP_MAGIC:
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    return unzipped.read()
            return handle.read()
    except FileNotFoundError as exc:
        raise IdxFormatError(f"{path}: no such file") from exc
    except (OSError, EOFError) as exc:
        raise IdxFormatError(f"{path}: cannot be decompressed ({exc}); download it again") from exc
