"""Wire format, file checks and output names, without services."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fashion_pubsub.brokers.base import Message
from fashion_pubsub.data.png import png_bytes
from fashion_pubsub.pipeline.errors import RejectedFileError, WireFormatError
from fashion_pubsub.pipeline.images import load_image
from fashion_pubsub.pipeline.outputs import write_output
from fashion_pubsub.pipeline.wire import decode, encode, safe_stem

PIXELS = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28)


def received(payload: bytes, attributes: dict[str, str]) -> Message:
    return Message(payload, attributes, None, 1, "test@0", None)


def test_round_trip_keeps_pixels_label_and_times() -> None:
    out = encode(PIXELS, "7.png", 3, seen_at=10.5, published_at=11.25)
    image = decode(received(out.payload, dict(out.attributes)))
    assert np.array_equal(image.pixels, PIXELS)
    assert (image.source_file, image.true_label, image.seen_at) == ("7.png", 3, 10.5)
    assert out.key == image.image_id == out.attributes["image_id"]


def test_image_id_is_stable_and_tells_files_apart() -> None:
    first = encode(PIXELS, "a.png", None, 1.0, 1.0).key
    assert encode(PIXELS, "a.png", None, 2.0, 2.0).key == first
    assert encode(PIXELS, "b.png", None, 1.0, 1.0).key != first


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schema": "2"}, "schema"),
        ({"shape": "32,32"}, "28,28"),
        ({"true_label": "11"}, "class 0-9"),
        ({"seen_at": "yesterday"}, "seen_at"),
    ],
)
def test_bad_attributes_are_named(change: dict[str, str], reason: str) -> None:
    out = encode(PIXELS, "1.png", 1, 1.0, 1.0)
    with pytest.raises(WireFormatError, match=reason):
        decode(received(out.payload, {**out.attributes, **change}))


def test_wrong_body_length_is_named() -> None:
    out = encode(PIXELS, "1.png", 1, 1.0, 1.0)
    with pytest.raises(WireFormatError, match="784"):
        decode(received(out.payload + b"x", dict(out.attributes)))


@pytest.mark.parametrize(
    ("source", "stem"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win"),
        ("/abs/x.png", "x"),
        ("..", "fallback"),
        ("a b/ü.png", "ü"),
        (".hidden.png", "hidden"),
    ],
)
def test_output_stems_never_leave_the_folder(source: str, stem: str) -> None:
    assert safe_stem(source, "fallback") == stem


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_an_output_stem_holds_only_letters_digits_dots_dashes_and_underscores(
    source: str,
) -> None:
    stem = safe_stem(source, "fallback")
    assert stem and all(c.isalnum() or c in "-_." for c in stem)
    assert not stem.startswith(".") and "/" not in stem and len(stem) <= 100


def test_rgb_png_and_jpeg_are_accepted_as_grayscale(tmp_path: Path) -> None:
    rgb = Image.fromarray(np.stack([PIXELS] * 3, axis=-1))
    rgb.save(tmp_path / "rgb.png")
    rgb.save(tmp_path / "photo.jpg", quality=95)
    assert np.array_equal(load_image(tmp_path / "rgb.png", 10**6)[0], PIXELS)
    assert load_image(tmp_path / "photo.jpg", 10**6)[0].shape == (28, 28)


def test_label_is_read_from_converted_png(tmp_path: Path) -> None:
    (tmp_path / "5.png").write_bytes(png_bytes(PIXELS, 4))
    image = load_image(tmp_path / "5.png", 10**6)
    assert image.label == 4 and np.array_equal(image.pixels, PIXELS)
    assert image.changed_at == os.lstat(tmp_path / "5.png").st_ctime  # when it appeared


def test_gif_is_rejected(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(PIXELS).save(buffer, format="GIF")
    (tmp_path / "x.png").write_bytes(buffer.getvalue())
    with pytest.raises(RejectedFileError, match="GIF"):
        load_image(tmp_path / "x.png", 10**6)


def test_same_image_same_file_other_image_other_file(tmp_path: Path) -> None:
    first = write_output(tmp_path, "3.png", "id-aaaaaaaaaaaa", "Bag", PIXELS)
    again = write_output(tmp_path, "3.png", "id-aaaaaaaaaaaa", "Bag", PIXELS)
    other = write_output(tmp_path, "3.png", "id-bbbbbbbbbbbb", "Bag", 255 - PIXELS)
    assert first == again == tmp_path / "3-Bag.png"
    assert other != first and other.parent == tmp_path
    assert len(list(tmp_path.iterdir())) == 2
