from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fashion_pubsub.cli import main
from fashion_pubsub.data.convert import convert_range
from fashion_pubsub.data.dataset import load_split, split_paths
from fashion_pubsub.data.errors import RangeError
from fashion_pubsub.data.png import read_label


def test_converts_inclusive_range_with_labels_inside(data_dir: Path, tmp_path: Path) -> None:
    images, labels = split_paths(data_dir, "test")
    assert convert_range(images, labels, tmp_path, 0, 4) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}.png" for i in range(5)]
    test = load_split(data_dir, "test")
    for index in range(5):
        with Image.open(tmp_path / f"{index}.png") as png:
            assert png.mode == "L"
            assert png.size == (28, 28)
            assert np.array_equal(np.asarray(png), test.images[index])
            assert read_label(png) == int(test.labels[index])


def test_out_of_range_end_names_the_valid_range(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RangeError, match="end <= 9999"):
        convert_range(*split_paths(data_dir, "test"), tmp_path, 9990, 10_000)
    assert not any(tmp_path.iterdir())


def test_start_after_end_is_refused(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(RangeError):
        convert_range(*split_paths(data_dir, "test"), tmp_path, 5, 4)


def test_cli_keeps_the_old_flags_and_leaves_no_temporary_files(
    data_dir: Path, tmp_path: Path
) -> None:
    images, labels = split_paths(data_dir, "test")
    out = tmp_path / "input-images"
    result = CliRunner().invoke(
        main,
        [
            "convert",
            "--images",
            str(images),
            "--labels",
            str(labels),
            "--output",
            str(out),
            "--start",
            "10",
            "--end",
            "12",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["10.png", "11.png", "12.png"]


def test_cli_reports_a_bad_range_without_traceback(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "convert",
            "--data-dir",
            str(data_dir),
            "--output",
            str(tmp_path),
            "--start",
            "0",
            "--end",
            "20000",
        ],
    )
    assert result.exit_code == 1
    assert "end is inclusive" in result.output
    assert "Traceback" not in result.output
