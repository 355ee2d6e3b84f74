"""IDX -> PNG (the old ubyte_to_png.py): `<index>.png`, 8-bit grayscale, true label inside.

The label is stored as a PNG text chunk (key "label") so accuracy can be measured
end to end without putting it in the file name. Each file is written under a
hidden temporary name and renamed, so a folder watcher never sees half a file.
"""

from collections.abc import Iterable
from pathlib import Path

from fashion_pubsub.data.errors import RangeError
from fashion_pubsub.data.idx import read_pair
from fashion_pubsub.data.png import png_bytes
from fashion_pubsub.files import write_atomically


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
