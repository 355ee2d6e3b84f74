"""int8 quantisation: the served model stays accurate, its probabilities stay fine-grained,
and a quantisation that ruins accuracy is refused rather than published."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.data.dataset import Dataset, load_split
from fashion_pubsub.model.errors import ExportError
from fashion_pubsub.model.evaluate import predict_onnx
from fashion_pubsub.model.optimize import (
    FLOAT_MODEL,
    SERVED_MODEL,
    derive_optimized_version,
    optimize_version,
)
from tests.conftest import MODEL_BASE_PATH


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    folder = tmp_path / "staged"
    folder.mkdir()
    shutil.copyfile(MODEL_BASE_PATH / "1" / "model.onnx", folder / SERVED_MODEL)
    return folder


def test_quantized_model_keeps_accuracy_and_float_probabilities(
    staged: Path, data_dir: Path
) -> None:
    test = load_split(data_dir, "test")
    optimized = optimize_version(staged, load_split(data_dir, "train").images, test)
    assert optimized.quantized
    assert optimized.served_test.accuracy >= optimized.float_test.accuracy - 0.003
    assert optimized.served_test.accuracy >= 0.93
    probabilities = predict_onnx(staged / SERVED_MODEL, test.images[:200])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    # A quantised softmax would give multiples of 1/256; the float head does not.
    steps = probabilities * 256
    assert np.abs(steps - np.rint(steps)).max() > 0.01
    assert (staged / FLOAT_MODEL).is_file()


def test_calibrating_on_blank_images_is_refused(staged: Path, data_dir: Path) -> None:
    blank = np.zeros((200, 28, 28), np.uint8)
    test = load_split(data_dir, "test")
    small = Dataset(test.images[:2000], test.labels[:2000])
    with pytest.raises(ExportError, match="--no-quantize"):
        optimize_version(staged, blank, small)


def test_a_version_trained_with_no_quantize_can_be_quantised_later(
    staged: Path, data_dir: Path, tmp_path: Path
) -> None:
    """`train --no-quantize` publishes a float, already simplified model; `quantize` then
    makes its int8 version (as versions 3 and 4 were made), but never quantises twice."""
    test = load_split(data_dir, "test")
    small = Dataset(test.images[:2000], test.labels[:2000])
    train = load_split(data_dir, "train")
    optimize_version(staged, train.images, small, quantize=False)
    base = tmp_path / "base"
    shutil.copytree(staged, base / "1")
    (base / "1" / "metadata.json").write_text(json.dumps({"test_accuracy": 0.93}))
    (base / "1" / "metrics.json").write_text(json.dumps({"history": {}}))
    version, optimized = derive_optimized_version(base, 1, train, small)
    assert version == base / "2" and optimized.quantized
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["derived_from"] == 1 and "quantization" in metadata
    assert optimized.served_test.accuracy >= optimized.float_test.accuracy - 0.003
    with pytest.raises(ExportError, match="already quantised"):
        derive_optimized_version(base, 2, train, small)
