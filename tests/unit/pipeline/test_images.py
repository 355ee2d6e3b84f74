"""The file boundary: whatever a name points to and whatever it holds, `load_image`
answers with an image or a RejectedFileError that says why, and never blocks."""

import io
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from fashion_pubsub.data.png import encode_grayscale_png, png_bytes
from fashion_pubsub.pipeline.errors import RejectedFileError
from fashion_pubsub.pipeline.images import load_image

PIXELS = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28)
LIMIT = 1_000_000
ODD_LABELS = ["²", "9" * 5000, "-1", "10", " 3", "٣", "3\n", ""]


def saved(image: Image.Image, format: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def rejection(path: Path) -> RejectedFileError:
    with pytest.raises(RejectedFileError) as caught:
        load_image(path, LIMIT)
    return caught.value


@pytest.mark.parametrize("label", ODD_LABELS)
def test_a_label_chunk_that_is_not_one_digit_is_no_label(tmp_path: Path, label: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("label", label, zip=True)  # compressed (or international) text: Pillow
    pillow = tmp_path / "pillow.png"
    pillow.write_bytes(saved(Image.fromarray(PIXELS), pnginfo=info))
    paths = [pillow]
    if label == label.encode("latin-1", "ignore").decode("latin-1"):  # tEXt is Latin-1
        plain = tmp_path / "plain.png"  # read by the project's own PNG reader
        plain.write_bytes(encode_grayscale_png(PIXELS, {"label": label}))
        paths.append(plain)
    for path in paths:
        image = load_image(path, LIMIT)
        assert image.label is None and np.array_equal(image.pixels, PIXELS)


def test_a_one_digit_label_is_read(tmp_path: Path) -> None:
    (tmp_path / "5.png").write_bytes(png_bytes(PIXELS, 4))
    assert load_image(tmp_path / "5.png", LIMIT).label == 4


def test_rgba_palette_and_a_jpeg_named_png_are_converted(tmp_path: Path) -> None:
    rgba = Image.fromarray(np.stack([PIXELS] * 3 + [np.full_like(PIXELS, 128)], axis=-1))
    (tmp_path / "rgba.png").write_bytes(saved(rgba))
    (tmp_path / "palette.png").write_bytes(saved(Image.fromarray(PIXELS).convert("P")))
    (tmp_path / "photo.png").write_bytes(saved(Image.fromarray(PIXELS), "JPEG", quality=95))
    assert np.array_equal(load_image(tmp_path / "rgba.png", LIMIT).pixels, PIXELS)
    assert load_image(tmp_path / "palette.png", LIMIT).pixels.shape == (28, 28)
    assert load_image(tmp_path / "photo.png", LIMIT).pixels.shape == (28, 28)


def test_sixteen_bit_is_rejected_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "deep.png").write_bytes(saved(Image.new("I;16", (28, 28))))
    assert "16-bit" in rejection(tmp_path / "deep.png").reason


def test_empty_and_truncated_files_may_be_unfinished(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "half.png").write_bytes(png_bytes(PIXELS)[:300])
    for name, words in (("empty.png", "empty"), ("half.png", "truncated")):
        error = rejection(tmp_path / name)
        assert words in error.reason and error.unfinished and error.identity is not None


def test_a_50_mb_file_is_rejected_without_reading_it(tmp_path: Path) -> None:
    with (tmp_path / "big.png").open("wb") as file:
        file.truncate(50 * 1024 * 1024)  # sparse: its size alone decides
    error = rejection(tmp_path / "big.png")
    assert "52428800 bytes" in error.reason and not error.unfinished


def test_a_named_pipe_is_rejected_without_being_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")  # opening it for reading would wait for a writer
    assert "named pipe" in rejection(tmp_path / "pipe.png").reason


def test_a_folder_named_like_an_image_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.png").mkdir()
    assert "folder" in rejection(tmp_path / "x.png").reason


def test_a_socket_and_a_device_are_rejected() -> None:
    with tempfile.TemporaryDirectory() as short:  # socket paths must be short
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(os.path.join(short, "s.png"))
            assert "socket" in rejection(Path(short) / "s.png").reason
    assert "device" in rejection(Path("/dev/null")).reason


def test_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real.png").write_bytes(png_bytes(PIXELS))
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    assert "symbolic link" in rejection(tmp_path / "link.png").reason
