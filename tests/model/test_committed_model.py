"""The shipped model, judged by ONNX Runtime alone, as the server will run it."""

import json
from pathlib import Path

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.model.evaluate import evaluate_onnx

from ..conftest import MODEL_BASE_PATH

VERSION_1 = MODEL_BASE_PATH / "1"


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
