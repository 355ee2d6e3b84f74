"""Reading an input file into 28x28 uint8 pixels, or saying exactly why not."""

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fashion_pubsub.data.convert import label_from_text, read_label
from fashion_pubsub.data.png import decode_plain_grayscale_png
from fashion_pubsub.pipeline.errors import RejectedFileError

ACCEPTED_FORMATS = ("PNG", "JPEG")
_GRAYSCALE_CONVERTIBLE = ("L", "RGB", "RGBA", "P", "LA", "1", "CMYK")


def load_image(path: Path, max_bytes: int) -> tuple[np.ndarray, int | None]:
    """Pixels [28, 28] uint8 and the true label a converted PNG carries (or None).

    RGB and palette images are converted to grayscale. The size is checked from the
    header before any pixel is decoded, so a huge image costs nothing. A plain 28x28
    grayscale PNG, as `convert` writes, is read without Pillow (4x less CPU).

    Raises:
        RejectedFileError: the reason the file cannot be used.
    """
    data = _read(path, max_bytes)
    plain = decode_plain_grayscale_png(data)
    if plain is not None and plain[0].shape == (28, 28):
        pixels, text = plain
        return pixels, label_from_text(text)
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
        raise RejectedFileError(path, "not a PNG or JPEG image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise RejectedFileError(path, f"damaged or truncated image ({exc})") from exc


def _read(path: Path, max_bytes: int) -> bytes:
    size = path.stat().st_size
    if size == 0:
        raise RejectedFileError(path, "empty file (0 bytes)")
    if size > max_bytes:
        raise RejectedFileError(
            path, f"{size} bytes is over the {max_bytes}-byte limit for a 28x28 image"
        )
    return path.read_bytes()


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
