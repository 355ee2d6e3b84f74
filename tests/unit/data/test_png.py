"""Our PNG writer, read back by Pillow and by our own reader of the files it writes."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fashion_pubsub.data.png import decode_plain_grayscale_png, encode_grayscale_png


@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 500)])
def test_pillow_reads_back_the_same_pixels(shape: tuple[int, int], level: int) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_grayscale_png(pixels, level=level))) as image:
        image.load()
        assert (image.format, image.mode, image.size) == ("PNG", "L", shape[::-1])
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_text_entries_are_readable_by_pillow() -> None:
    data = encode_grayscale_png(np.zeros((28, 28), np.uint8), {"label": "7", "note": "ümlaut"})
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.text == {"label": "7", "note": "ümlaut"}  # type: ignore[attr-defined]


def test_damaged_output_would_be_caught_by_the_crc() -> None:
    data = bytearray(encode_grayscale_png(np.full((28, 28), 9, np.uint8)))
    data[-20] ^= 0xFF  # a byte inside the IDAT chunk
    with pytest.raises((SyntaxError, OSError)), Image.open(io.BytesIO(bytes(data))) as image:
        image.load()


@pytest.mark.parametrize("bad", [np.zeros((28, 28), np.float32), np.zeros((2, 28, 28), np.uint8)])
def test_only_2d_uint8_images_are_accepted(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="2-D uint8"):
        encode_grayscale_png(bad)


@pytest.mark.parametrize("level", [0, 1, 9])
@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 500)])
def test_our_reader_gives_what_pillow_gives_for_our_files(
    shape: tuple[int, int], level: int
) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = encode_grayscale_png(pixels, {"label": "3", "note": "ümlaut"}, level=level)
    decoded = decode_plain_grayscale_png(data)
    assert decoded is not None
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        np.testing.assert_array_equal(decoded[0], np.asarray(image))
        assert decoded[1] == image.text  # type: ignore[attr-defined]


def _pillow_png(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


_IMAGE = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
_OURS = encode_grayscale_png(_IMAGE)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_pillow_png(_IMAGE), id="filtered rows (Pillow's writer)"),
        pytest.param(_pillow_png(np.stack([_IMAGE] * 3, axis=-1)), id="RGB"),
        pytest.param(_pillow_png(_IMAGE.astype(np.uint16) * 256), id="16-bit"),
        pytest.param(_pillow_png(_IMAGE, optimize=True, interlace=1), id="interlaced"),
        pytest.param(_OURS[:-30], id="truncated"),
        pytest.param(_OURS[:-20] + bytes([_OURS[-20] ^ 0xFF]) + _OURS[-19:], id="bad CRC"),
        pytest.param(b"GIF89a" + _OURS[6:], id="not a PNG"),
        pytest.param(_OURS[:8] + _OURS[33:-12] + _OURS[8:33] + _OURS[-12:], id="header last"),
        pytest.param(
            _OURS[:33] + _chunk(b"zTXt", b"label\0\0" + zlib.compress(b"3")) + _OURS[33:],
            id="compressed text",
        ),
    ],
)
def test_anything_else_is_left_to_pillow(data: bytes) -> None:
    assert decode_plain_grayscale_png(data) is None


def test_more_data_than_the_header_promises_is_not_inflated() -> None:
    """A bomb: a 1x1 header over 10 MB of zeros is refused after inflating 3 bytes."""
    header = struct.pack(">II5B", 1, 1, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(10_000_000))
    data = _OURS[:8] + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")
    assert decode_plain_grayscale_png(data) is None
