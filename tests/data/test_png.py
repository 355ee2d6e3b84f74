"""Our PNG writer, read back by Pillow (which reads every input file in the pipeline)."""

import io

import numpy as np
import pytest
from PIL import Image

from fashion_pubsub.data.png import encode_grayscale_png


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 500)])
def test_pillow_reads_back_the_same_pixels(shape: tuple[int, int]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_grayscale_png(pixels))) as image:
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
