"""Writing, and reading back, the plain 8-bit grayscale PNGs this project writes, with
zlib directly.

Pillow spends ~100 µs saving a 28x28 image and ~50 µs opening one, nearly all of it
per-call set-up; the pipeline handles every image once each way, so that set-up would
cost more CPU than the model's inference. The format for one grayscale image is a
header chunk, optional text chunks, the zlib-compressed rows and an end marker
(RFC 2083). The reader takes only that exact form, every CRC checked, and answers
None for anything else, so Pillow still reads (and judges) any other file; tests
check Pillow reads the writer's files back unchanged and both readers agree.
"""

import re
import struct
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GRAYSCALE_8_BIT = (8, 0, 0, 0, 0)  # bit depth, colour type, compression, filter, interlace
_NO_FILTER = 0
_CHUNK_HEAD = struct.Struct(">I4s")
_UINT32 = struct.Struct(">I")  # chunk lengths and CRCs
_IHDR = struct.Struct(">II5B")  # width, height, then the five bytes of _GRAYSCALE_8_BIT
_ANCILLARY = 0x20  # bit 5 of a chunk type's first byte: a reader may skip the chunk
LABEL_KEY = "label"  # the tEXt key `convert` stores an image's true class under
_LABEL = re.compile(r"[0-9]")  # ASCII only: "²".isdigit() is True, int("²") fails


def png_bytes(pixels: np.ndarray, label: int | None = None) -> bytes:
    """Encode a 28x28 uint8 image as an 8-bit grayscale PNG, with its label if known."""
    return encode_grayscale_png(pixels, None if label is None else {LABEL_KEY: str(int(label))})


def read_label(png: "Image.Image") -> int | None:
    """The true label a PNG opened with Pillow carries, or None."""
    return label_from_text(getattr(png, "text", {}))


def label_from_text(text: Mapping[str, str]) -> int | None:
    """The true label among a PNG's text entries: exactly one ASCII digit 0-9, else None.

    The text comes from the file, so anything else (`²`, 5,000 digits, `-1`, ` 3`) is
    no label at all rather than an error: the image itself is still usable.
    """
    label = text.get(LABEL_KEY)
    return int(label) if isinstance(label, str) and _LABEL.fullmatch(label) else None


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
    chunks = [_chunk(b"IHDR", _IHDR.pack(width, height, *_GRAYSCALE_8_BIT))]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    chunks.append(_chunk(b"IDAT", zlib.compress(rows.tobytes(), level)))
    chunks.append(_chunk(b"IEND", b""))
    return _SIGNATURE + b"".join(chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return _UINT32.pack(len(data)) + kind + data + _UINT32.pack(zlib.crc32(kind + data))


def decode_plain_grayscale_png(data: bytes) -> tuple[np.ndarray, dict[str, str]] | None:
    """Pixels [height, width] and tEXt entries of a PNG in the form `encode_grayscale_png`
    writes (8-bit grayscale, not interlaced, every row unfiltered), or None for any other
    or damaged file. Decompresses at most one byte more than the header promises."""
    if not data.startswith(_SIGNATURE):
        return None
    header, text, compressed = None, {}, []
    position = len(_SIGNATURE)
    while True:
        if position + 12 > len(data):
            return None  # no IEND: truncated
        length, kind = _CHUNK_HEAD.unpack_from(data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            return None
        body = data[position + 8 : end]
        if zlib.crc32(body, zlib.crc32(kind)) != _UINT32.unpack_from(data, end)[0]:
            return None
        if (kind == b"IHDR") != (position == len(_SIGNATURE)):
            return None  # the header must come first, and only once
        if kind == b"IEND":
            break
        if kind == b"IHDR":
            header = body
        elif kind in (b"zTXt", b"iTXt"):
            return None  # compressed or international text: Pillow reads those
        elif kind == b"IDAT":
            compressed.append(body)
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif not kind[0] & _ANCILLARY:
            return None  # a critical chunk this reader does not know (a palette, say)
        position = end + 4
    return _plain_rows(header, b"".join(compressed), text)


def _plain_rows(
    header: bytes | None, compressed: bytes, text: dict[str, str]
) -> tuple[np.ndarray, dict[str, str]] | None:
    if header is None or len(header) != _IHDR.size:
        return None
    width, height, *form = _IHDR.unpack(header)
    if tuple(form) != _GRAYSCALE_8_BIT or not 0 < width * height <= 1 << 20:
        return None
    expected = height * (width + 1)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected + 1)
    except zlib.error:
        return None
    if len(raw) != expected or not inflater.eof:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None  # filtered rows: Pillow undoes filters
    return rows[:, 1:], text
