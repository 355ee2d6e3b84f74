"""Where the Fashion-MNIST files are, and loading a split of them."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from fashion_pubsub.data.errors import DataNotFoundError
from fashion_pubsub.data.idx import read_pair

Split = Literal["train", "test"]

FILES: dict[str, str] = {
    "train-images": "train-images-idx3-ubyte.gz",
    "train-labels": "train-labels-idx1-ubyte.gz",
    "test-images": "t10k-images-idx3-ubyte.gz",
    "test-labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class Dataset:
    """One split: images [N, 28, 28] uint8 and labels [N] uint8."""

    images: np.ndarray
    labels: np.ndarray


def locate(path: Path, data_dir: Path) -> Path:
    """Find one of the four files in `data_dir`, compressed or not."""
    for candidate in (data_dir / path, data_dir / path.with_suffix("")):
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(
        f"{path.name} not found in {data_dir}; run `fashion-pubsub fetch-data --data-dir "
        f"{data_dir}`, install the Debian package dataset-fashion-mnist, or pass --data-dir"
    )


def split_paths(data_dir: Path, split: Split) -> tuple[Path, Path]:
    """Return the (images, labels) paths of a split."""
    return (
        locate(Path(FILES[f"{split}-images"]), data_dir),
        locate(Path(FILES[f"{split}-labels"]), data_dir),
    )


def load_split(data_dir: Path, split: Split) -> Dataset:
    """Load the train (60,000) or test (10,000) split from `data_dir`."""
    images, labels = read_pair(*split_paths(data_dir, split))
    return Dataset(images=images, labels=labels)
