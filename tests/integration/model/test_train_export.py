"""A short training run that exports and reloads, and the atomicity of exports."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.data.dataset import Dataset, load_split
from fashion_pubsub.data.errors import DataNotFoundError
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.model.evaluate import predict_onnx
from fashion_pubsub.model.export import existing_versions, publish_version, stage_version
from fashion_pubsub.model.optimize import optimize_version
from fashion_pubsub.model.train import train_model
from fashion_pubsub.model.workflow import run_training

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.train

QUICK = TrainConfig(epochs=1, limit=1200, batch_size=64)


@pytest.fixture(scope="module")
def small_model(data_dir: Path) -> object:
    return train_model(load_split(data_dir, "train"), QUICK).model


def test_onnx_export_matches_keras_within_1e_5(
    small_model: object, data_dir: Path, tmp_path: Path
) -> None:
    staging = stage_version(small_model, tmp_path)
    images = load_split(data_dir, "test").images[:256]
    keras_out = small_model.predict(images[..., None].astype(np.float32), verbose=0)  # type: ignore[attr-defined]
    onnx_out = predict_onnx(staging / "model.onnx", images)
    assert np.abs(keras_out - onnx_out).max() < 1e-5
    reloaded = tf.saved_model.load(str(staging))
    served = reloaded.signatures["serving_default"](
        images=tf.constant(images[..., None], tf.float32)
    )
    assert np.abs(served["probabilities"].numpy() - keras_out).max() < 1e-5


def test_a_wider_network_exports_and_serves_the_same_answers(
    data_dir: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=1, limit=600, batch_size=64, stage3_filters=16, dense_units=32)
    test = load_split(data_dir, "test")
    model = train_model(load_split(data_dir, "train"), config).model
    staging = stage_version(model, tmp_path)
    images = test.images[:256]
    keras_out = model.predict(images[..., None].astype(np.float32), verbose=0)
    served = tf.saved_model.load(str(staging)).signatures["serving_default"](
        images=tf.constant(images[..., None], tf.float32)
    )
    assert np.abs(served["probabilities"].numpy() - keras_out).max() < 1e-5
    saved = [name for name, _ in tf.train.list_variables(str(staging / "variables" / "variables"))]
    assert not [name for name in saved if "optimizer" in name]  # 3x the size, never served
    optimized = optimize_version(staging, test.images[:200], Dataset(images, test.labels[:256]))
    assert optimized.quantized
    assert np.abs(predict_onnx(staging / "model_float.onnx", images) - keras_out).max() < 1e-5


def test_training_is_reproducible_with_a_seed(data_dir: Path) -> None:
    train = load_split(data_dir, "train")
    config = TrainConfig(epochs=1, limit=600, batch_size=64)
    first = train_model(train, config).model.get_weights()
    second = train_model(train, config).model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_versions_are_numbered_highest_plus_one_and_never_seen_half_written(
    small_model: object, tmp_path: Path
) -> None:
    (tmp_path / "7").mkdir()
    seen: list[set[str]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            for version in existing_versions(tmp_path):
                seen.append({p.name for p in (tmp_path / str(version)).iterdir()})

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        staging = stage_version(small_model, tmp_path)
        target = publish_version(staging, tmp_path, {"test_accuracy": 0.5}, {"note": "test"})
    finally:
        stop.set()
        poller.join()
    assert target == tmp_path / "8"
    assert json.loads((target / "metadata.json").read_text())["version"] == 8
    complete = {"model.onnx", "metadata.json", "metrics.json", "saved_model.pb", "variables"}
    assert all(names == set() or complete <= names for names in seen), "a partial version showed"
    assert existing_versions(tmp_path) == [7, 8]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_train_command_without_data_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="fetch-data"):
        run_training(tmp_path, QUICK, None)


def test_trained_version_serves_int8_with_its_float_model_beside_it(
    data_dir: Path, tmp_path: Path
) -> None:
    report = run_training(data_dir, QUICK, tmp_path)
    assert report.version_dir == tmp_path / "1"
    metadata = json.loads((report.version_dir / "metadata.json").read_text())
    assert metadata["inputs"][0]["datatype"] == "UINT8"
    assert metadata["quantization"]["weights"].startswith("int8")
    assert metadata["test_accuracy"] == round(report.test.accuracy, 4)
    assert metadata["float_test_accuracy"] == round(report.float_test.accuracy, 4)
    metrics = json.loads((report.version_dir / "metrics.json").read_text())
    assert 0 < metrics["training_cpu_seconds"]
    assert metrics["config"]["crop_padding"] == QUICK.crop_padding == 0
    images = load_split(data_dir, "test").images[:64]
    served = predict_onnx(report.version_dir / "model.onnx", images)
    float_out = predict_onnx(report.version_dir / "model_float.onnx", images)
    assert (served.argmax(axis=1) == float_out.argmax(axis=1)).mean() > 0.9
