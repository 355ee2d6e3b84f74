"""The shipped models, judged by ONNX Runtime alone, as the server will run them: version 1
(float, as trained), version 2 (the same, quantised to int8) and version 3 (the wider
network, int8: what the server serves)."""

import json
import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.cli import main
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.model.evaluate import evaluate_onnx, predict_onnx
from tests.conftest import MODEL_BASE_PATH, served_model_version

VERSION_1 = MODEL_BASE_PATH / "1"
VERSION_2 = MODEL_BASE_PATH / "2"
VERSION_3 = MODEL_BASE_PATH / "3"


def test_committed_model_reaches_093_on_the_10000_test_images(data_dir: Path) -> None:
    evaluation = evaluate_onnx(VERSION_1 / "model.onnx", load_split(data_dir, "test"))
    assert evaluation.images == 10_000
    assert evaluation.accuracy >= 0.93
    recorded = json.loads((VERSION_1 / "metadata.json").read_text())["test_accuracy"]
    assert abs(evaluation.accuracy - recorded) < 1e-4


def test_committed_version_is_complete_for_both_servers() -> None:
    metadata = json.loads((VERSION_1 / "metadata.json").read_text())
    assert metadata["classes"] == list(CLASS_NAMES)
    assert metadata["inputs"][0]["name"] == "images"
    assert metadata["outputs"][0]["name"] == "probabilities"
    assert (VERSION_1 / "saved_model.pb").is_file()
    assert (VERSION_1 / "variables").is_dir()
    assert json.loads((VERSION_1 / "metrics.json").read_text())["test"]["images"] == 10_000


def test_served_version_3_reaches_0945_in_int8_within_03_points_of_its_float_model(
    data_dir: Path,
) -> None:
    assert served_model_version() == VERSION_3
    test = load_split(data_dir, "test")
    served = evaluate_onnx(VERSION_3 / "model.onnx", test).accuracy
    float_model = evaluate_onnx(VERSION_3 / "model_float.onnx", test).accuracy
    assert served >= 0.945
    assert abs(served - float_model) <= 0.003
    metadata = json.loads((VERSION_3 / "metadata.json").read_text())
    assert abs(served - metadata["test_accuracy"]) < 1e-4
    assert metadata["version"] == 3 and metadata["inputs"][0]["datatype"] == "UINT8"
    assert (VERSION_3 / "saved_model.pb").is_file() and (VERSION_3 / "variables").is_dir()


def test_version_2_is_version_1_quantised_and_still_above_093(data_dir: Path) -> None:
    metadata = json.loads((VERSION_2 / "metadata.json").read_text())
    evaluation = evaluate_onnx(VERSION_2 / "model.onnx", load_split(data_dir, "test"))
    assert metadata["derived_from"] == 1 and metadata["inputs"][0]["datatype"] == "UINT8"
    assert evaluation.accuracy >= 0.93
    assert abs(evaluation.accuracy - metadata["test_accuracy"]) < 1e-4


def test_quantize_command_reproduces_version_2(data_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "fashion-model"
    shutil.copytree(VERSION_1, base / "1")
    result = CliRunner().invoke(
        main,
        ["quantize", "--model_base_path", str(base), "--from-version", "1"]
        + ["--data-dir", str(data_dir)],
    )
    assert result.exit_code == 0, result.output
    assert f"exported {base / '2'}" in result.output
    images = load_split(data_dir, "test").images
    ours = predict_onnx(base / "2" / "model.onnx", images)
    committed = predict_onnx(VERSION_2 / "model.onnx", images)
    np.testing.assert_array_equal(ours.argmax(axis=1), committed.argmax(axis=1))
    np.testing.assert_allclose(ours, committed, atol=1e-6)
