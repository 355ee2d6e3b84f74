"""The ten Fashion-MNIST classes, in label order, and their file-name-safe forms."""

import functools
import re

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@functools.cache  # once per class, not once per image
def safe_class_name(name: str) -> str:
    """Return `name` usable inside a file name: "T-shirt/top" -> "T-shirt_top"."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", name).strip("_") or "unknown"
