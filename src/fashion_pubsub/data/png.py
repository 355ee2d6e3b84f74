"""Writing 8-bit grayscale PNG files with zlib directly.

Pillow spends ~100 µs saving a 28x28 image, nearly all of it per-call set-up; the
pipeline writes one PNG per image, so that set-up would cost more CPU than the
model's inference. The format for one grayscale image is three chunks (RFC 2083):
a header, the zlib-compressed rows, an end marker. Reading PNGs stays with Pillow,
since input files are untrusted; tests check Pillow reads these back unchanged.
"""

import struct
import zlib
from collections.abc import Mapping

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GRAYSCALE_8_BIT = (8, 0, 0, 0, 0)  # bit depth, colour type, compression, filter, interlace
_NO_FILTER = 0


def encode_grayscale_png(
    pixels: np.ndarray, text: Mapping[str, str] | None = None, level: int = 6
) -> bytes:
    """PNG bytes of a 2-D uint8 image, with optional tEXt entries (Latin-1 keys and values).

    Args:
        pixels: [height, width] uint8.
        text: key -> value stored as tEXt chunks (Pillow shows them in `Image.text`).
        level: zlib compression level 0-9.

    Raises:
        ValueError: `pixels` is not a non-empty 2-D uint8 array.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or 0 in pixels.shape:
        raise ValueError(f"need a non-empty 2-D uint8 image, got {pixels.dtype} {pixels.shape}")
    height, width = pixels.shape
    rows = np.empty((height, width + 1), dtype=np.uint8)
    rows[:, 0] = _NO_FILTER  # each scanline starts with its filter type
    rows[:, 1:] = pixels
    chunks = [_chunk(b"IHDR", struct.pack(">II5B", width, height, *_GRAYSCALE_8_BIT))]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    chunks.append(_chunk(b"IDAT", zlib.compress(rows.tobytes(), level)))
    chunks.append(_chunk(b"IEND", b""))
    return _SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
