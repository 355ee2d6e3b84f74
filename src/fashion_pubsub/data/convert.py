"""IDX -> PNG (the old ubyte_to_png.py): `<index>.png`, 8-bit grayscale, true label inside.

The label is stored as a PNG text chunk (key "label") so accuracy can be measured
end to end without putting it in the file name. Each file is written under a
hidden temporary name and renamed, so a folder watcher never sees half a file.
"""

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_pubsub.data.errors import RangeError
from fashion_pubsub.data.idx import read_pair
from fashion_pubsub.data.png import encode_grayscale_png

LABEL_KEY = "label"


def png_bytes(pixels: np.ndarray, label: int | None = None) -> bytes:
    """Encode a 28x28 uint8 image as an 8-bit grayscale PNG, with its label if known."""
    return encode_grayscale_png(pixels, None if label is None else {LABEL_KEY: str(int(label))})


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a hidden temporary file beside `path`, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # os-level calls: the pipeline writes one small file per image, and Python's
    # buffered file objects would double the cost of each.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def check_range(start: int, end: int, count: int) -> None:
    """Fail with the valid range when start..end (inclusive) is not inside 0..count-1."""
    if not 0 <= start <= end < count:
        raise RangeError(
            f"--start {start} --end {end} is not a range of this file: it has {count} images, "
            f"so use 0 <= start <= end <= {count - 1} (end is inclusive)"
        )


def convert_range(
    images_path: Path,
    labels_path: Path,
    output: Path,
    start: int,
    end: int,
    *,
    progress: bool = False,
) -> int:
    """Write images start..end (inclusive) as `<index>.png` into `output`; returns the count.

    Args:
        images_path: IDX images file (raw or gzip).
        labels_path: the matching IDX labels file.
        output: destination folder, created if missing.
        start: first index.
        end: last index, inclusive, as in the old ubyte_to_png.py.
        progress: show a progress bar on the terminal.
    """
    images, labels = read_pair(images_path, labels_path)
    check_range(start, end, len(images))
    output.mkdir(parents=True, exist_ok=True)
    indices: Iterable[int] = range(start, end + 1)
    if progress:
        from rich.progress import track

        indices = track(indices, description="converting", total=end - start + 1)
    for index in indices:
        write_atomically(output / f"{index}.png", png_bytes(images[index], int(labels[index])))
    return end - start + 1


def read_label(png: Image.Image) -> int | None:
    """The true label a converted PNG carries, or None."""
    return label_from_text(getattr(png, "text", {}))


def label_from_text(text: Mapping[str, str]) -> int | None:
    """The true label among a PNG's text entries, or None."""
    label = text.get(LABEL_KEY)
    return int(label) if label is not None and label.isdigit() and int(label) <= 9 else None
