"""Writing `<stem>-<Class>.png` into the output folder: atomically, never outside it,
never over another image's file."""

from pathlib import Path

import numpy as np

from fashion_pubsub.classes import safe_class_name
from fashion_pubsub.data.png import encode_grayscale_png
from fashion_pubsub.files import write_atomically
from fashion_pubsub.pipeline.wire import safe_stem


def write_output(
    folder: Path, source_file: str, image_id: str, class_name: str, pixels: np.ndarray
) -> Path:
    """Write the predicted image and return its path.

    The name is `<stem>-<Class>.png` as in the old design. The same image written again
    (a redelivery) lands on the same file; a different image with the same name gets
    `-<id>` added instead of overwriting it.
    """
    # Stored, not compressed: zlib's set-up made even level 1 cost ~15 µs per image, and
    # the 870-byte file takes the same 4 KB block on disk as a 600-byte one would.
    data = encode_grayscale_png(pixels, level=0)
    stem = safe_stem(source_file, image_id[:12])
    base = f"{stem}-{safe_class_name(class_name)}"
    for name in (f"{base}.png", f"{base}-{image_id[:12]}.png"):
        target = folder / name
        if target.exists() and target.read_bytes() != data:
            continue
        write_atomically(target, data)
        return target
    raise FileExistsError(f"{folder / base}: taken by other images")  # a 48-bit id collision
