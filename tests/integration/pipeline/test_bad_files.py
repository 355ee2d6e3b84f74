"""Hostile and odd files among valid ones, on both real brokers, through the real
`publish` and `subscribe`: valid files all arrive, bad ones all end in rejected/ with a
reason (or are published losslessly where docs/pipeline.md says so), nothing stops.

published/ and rejected/ sit on another file system (tmpfs under /dev/shm), so every move
is a copy across file systems, and named pipes, sockets and folders stay in the input
folder with their note in rejected/ (docs/pipeline.md)."""

import io
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, PngImagePlugin

from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.data.png import encode_grayscale_png, png_bytes
from fashion_pubsub.files import NAME_MAX
from fashion_pubsub.pipeline.wire import image_id

from .conftest import Lane

T = TypeVar("T")
LONG_NAME = "l" * (NAME_MAX - len(".png")) + ".png"
NOT_UTF8 = os.fsdecode(b"caf\xe9.png")
FORGING = "line\n2026-01-01T00:00:00 INFO forged event\r.png"


def saved(image: Image.Image, format: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def bound_socket(path: Path) -> None:
    """A socket file at `path` (bound in a short folder, socket paths are short, then
    renamed in)."""
    with tempfile.TemporaryDirectory(dir=path.parent.parent) as short:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(os.path.join(short, "s"))
            os.rename(os.path.join(short, "s"), path)


def sparse(size: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as file:
            file.truncate(size)

    return write


def content(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def test_bad_files_among_valid_ones(lane: Lane, data_dir: Path, other_file_system: Path) -> None:
    test = load_split(data_dir, "test")
    pixels, labels = test.images, test.labels

    def good(i: int) -> bytes:
        return png_bytes(pixels[i], int(labels[i]))

    outside = lane.root / "outside"
    outside.mkdir()
    (outside / "target.png").write_bytes(good(90))
    info = PngImagePlugin.PngInfo()
    info.add_text("label", "²")
    # name -> how it is made; published: what is valid (or published losslessly)
    published: dict[str, Callable[[Path], None]] = {
        NOT_UTF8: content(good(91)),
        "hard.png": lambda path: os.link(outside / "target.png", path),
        "rgba.png": content(saved(Image.fromarray(pixels[92]).convert("RGBA"))),
        "jpeg.png": content(saved(Image.fromarray(pixels[93]), "JPEG", quality=95)),
        "label.png": content(saved(Image.fromarray(pixels[94]), pnginfo=info)),
        "digits.png": content(encode_grayscale_png(pixels[95], {"label": "7" * 5000})),
        FORGING: content(good(96)),
    }
    rejected: dict[str, Callable[[Path], None]] = {
        "empty.png": content(b""),
        "truncated.png": content(good(97)[:200]),
        "text.png": content(b"this is not an image\n"),
        "deep16.png": content(saved(Image.new("I;16", (28, 28)))),
        "rgb32.png": content(saved(Image.new("RGB", (32, 32), "red"))),
        "gif.png": content(saved(Image.fromarray(pixels[98]), "GIF")),
        "big.png": sparse(50 * 1024 * 1024),
        LONG_NAME: content(b"\x89PNG\r\n\x1a\nnot really"),
        "link.png": lambda path: path.symlink_to(outside / "target.png"),
    }
    left_in_place: dict[str, Callable[[Path], None]] = {
        "pipe.png": os.mkfifo,
        "x.png": Path.mkdir,
        "sock.png": bound_socket,
    }
    inbox = lane.folder("input")
    inbox.mkdir(parents=True)
    lane.subscriber()
    lane.publisher(
        published=other_file_system / "published", rejected=other_file_system / "rejected"
    )
    bad = {**published, **rejected, **left_in_place}
    for i, (name, make) in enumerate(bad.items()):
        (inbox / f"good-{i}.png").write_bytes(good(i))
        make(inbox / name)
    new = 255 - pixels[99]
    (inbox / "replaced.png").write_bytes(good(99))
    (lane.root / "new.png").write_bytes(png_bytes(new, 5))
    os.replace(lane.root / "new.png", inbox / "replaced.png")  # a user saves a new version

    expected = {f"good-{i}.png" for i in range(len(bad))} | set(published) | {"replaced.png"}
    expected = {n.replace(NOT_UTF8, "caf\ufffd.png") for n in expected}
    new_id = image_id("replaced.png", new)  # the old version may or may not have been sent
    records = wait_until(
        lambda: _sources(lane) >= expected and new_id in {r["image_id"] for r in lane.records()},
        lane,
        lane.records,
    )
    notes_folder = other_file_system / "rejected"
    wanted = {f"{n}.reason" for n in (*rejected, *left_in_place) if n != LONG_NAME}
    notes = wait_until(
        lambda: _notes(notes_folder) >= wanted and len(_notes(notes_folder)) > len(wanted),
        lane,
        lambda: {n: (notes_folder / n).read_text() for n in _notes(notes_folder)},
    )
    assert len(notes) == len(rejected) + len(left_in_place), sorted(notes)
    assert all(text.strip() for text in notes.values())
    assert "empty" in notes["empty.png.reason"] and "16-bit" in notes["deep16.png.reason"]
    assert "52428800 bytes" in notes["big.png.reason"]
    assert "symbolic link" in notes["link.png.reason"] and "named pipe" in notes["pipe.png.reason"]
    assert "cannot be moved" in notes["x.png.reason"] and "socket" in notes["sock.png.reason"]

    by_source = {str(r["source_file"]): r for r in records}
    assert by_source["label.png"]["true_label"] is None
    replaced = next(r for r in records if r["image_id"] == new_id)
    assert np.array_equal(_pixels(lane, replaced), new)
    wait_until(lambda: sorted(os.listdir(inbox)) == sorted(left_in_place), lane, list)
    published_folder = os.fsencode(other_file_system / "published")
    assert b"caf\xe9.png" in os.listdir(published_folder)
    assert not [n for n in os.listdir(published_folder) if n.startswith(b".")], "no temporaries"
    assert sorted(os.listdir(outside)) == ["target.png"]
    assert [p.poll() for p in lane.processes] == [None, None], "both processes keep running"
    log = (lane.root / "publisher.log").read_text(errors="replace").splitlines()
    assert not [line for line in log if line.startswith("2026-01-01T00:00:00 INFO forged")]


def _sources(lane: Lane) -> set[str]:
    return {str(r["source_file"]) for r in lane.records()}


def _notes(folder: Path) -> set[str]:
    return {n for n in os.listdir(folder) if n.endswith(".reason")} if folder.exists() else set()


def _pixels(lane: Lane, record: dict[str, object]) -> np.ndarray:
    with Image.open(lane.folder("output") / str(record["output_file"])) as image:
        return np.asarray(image.convert("L"))


def wait_until(done: Callable[[], bool], lane: Lane, value: Callable[[], T]) -> T:
    """Poll until `done`, failing early if a pipeline process died."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if done():
            return value()
        for process in lane.processes:
            assert process.poll() is None, f"a pipeline process died: {lane.logs()}"
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting; got {value()!r}\n{lane.logs()}")
