import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.data.errors import DataNotFoundError, IdxFormatError
from fashion_pubsub.data.idx import read_images, read_labels, read_pair


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_reads_raw_and_gzip_images(tmp_path: Path, compress: bool) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28) % 256
    path = write_idx(tmp_path / "images", images, compress=compress)
    assert np.array_equal(read_images(path), images)


def test_real_test_split_has_the_published_shape_and_first_labels(data_dir: Path) -> None:
    test = load_split(data_dir, "test")
    assert test.images.shape == (10_000, 28, 28)
    assert test.images.dtype == np.uint8
    assert test.labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(test.labels).tolist() == [1000] * 10


def test_truncated_file_names_the_problem(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images", np.zeros((4, 28, 28)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IdxFormatError, match="truncated or corrupt"):
        read_images(path)


def test_truncated_gzip_stream_is_a_clear_error(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "images.gz", np.zeros((4, 28, 28)), compress=True)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(IdxFormatError, match="download it again"):
        read_images(path)


def test_labels_file_given_as_images_is_refused(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.zeros(10))
    with pytest.raises(IdxFormatError, match="swapped"):
        read_images(path)


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-idx"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(IdxFormatError, match="magic number"):
        read_labels(path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(IdxFormatError, match="too short"):
        read_labels(path)


def test_label_out_of_range_is_refused(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.array([1, 2, 12]))
    with pytest.raises(IdxFormatError, match="not a class"):
        read_labels(path)


def test_mismatched_counts_are_refused(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "images", np.zeros((3, 28, 28)))
    labels = write_idx(tmp_path / "labels", np.zeros(4))
    with pytest.raises(IdxFormatError, match="same split"):
        read_pair(images, labels)


def test_missing_data_dir_says_how_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="fetch-data"):
        load_split(tmp_path, "test")
