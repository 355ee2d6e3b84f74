"""TF Serving's gRPC API (PredictionService, ModelService) on `serve --port`, called with
TF Serving's own client, tensorflow-serving-api (in a worker process: it imports
TensorFlow), on real test images; answers checked against the REST API's and the model's."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from fashion_pubsub.data.dataset import load_split
from tests.support.grpc_serving import RunningServer, TfServingClient, running_server
from tests.support.serving import (
    MODEL,
    expected_probabilities,
    export_version,
    labelled_model_config,
)

CONFIG = f"""
model_config_list {{{labelled_model_config(MODEL)}
  config {{ name: "empty" base_path: "empty" }}
}}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grpc-tfs")
    export_version(root / MODEL, 1)
    export_version(root / MODEL, 2)
    (root / "empty").mkdir()  # configured, never exported: not ready
    (root / "models.config").write_text(CONFIG)
    return root


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[RunningServer]:
    with running_server(root, "--model_config_file", str(root / "models.config")) as server:
        yield server


@pytest.fixture(scope="module")
def tfs(server: RunningServer) -> Iterator[TfServingClient]:
    client = TfServingClient(server.target)
    yield client
    client.close()


@pytest.fixture(scope="module")
def images(root: Path, data_dir: Path) -> tuple[np.ndarray, str]:
    """Eight real test images [8,28,28,1] uint8, and where the worker reads them."""
    pixels = load_split(data_dir, "test").images[:8].reshape(8, 28, 28, 1)
    path = root / "images.npy"
    np.save(path, pixels)
    return pixels, str(path)


def rest_predictions(server: RunningServer, pixels: np.ndarray, suffix: str = "") -> np.ndarray:
    response = httpx.post(
        f"{server.rest}/v1/models/{MODEL}{suffix}:predict",
        json={"instances": pixels.tolist()},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["predictions"], dtype=np.float32)


def test_status_lists_the_versions_of_the_policy(tfs: TfServingClient) -> None:
    answer = tfs.call("status")
    assert answer["code"] == "OK"
    assert answer["versions"] == [
        {"version": v, "state": "AVAILABLE", "error_code": 0, "error_message": ""} for v in (2, 1)
    ]
    assert [row["version"] for row in tfs.call("status", label="stable")["versions"]] == [1]


def test_metadata_is_a_signature_def_map_that_tensorflow_unpacks(tfs: TfServingClient) -> None:
    answer = tfs.call("metadata", version=1)
    assert answer["code"] == "OK"
    assert answer["type_url"] == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    assert answer["unpacked"] is True
    assert answer["method_name"] == "tensorflow/serving/predict"
    assert answer["inputs"] == {
        "images": {"name": "serving_default_images:0", "dtype": "float32", "shape": [-1, 28, 28, 1]}
    }
    assert answer["outputs"]["probabilities"]["shape"] == [-1, 10]
    assert answer["version"] == 1


@pytest.mark.parametrize(
    ("encoding", "dtype"),
    [
        ("tensor_content", "uint8"),  # tf.make_tensor_proto
        ("tensor_content", "float32"),
        ("int_val", "uint8"),  # other clients: one int per pixel
        ("float_val", "float32"),
    ],
)
def test_predict_matches_rest_and_the_model(
    tfs: TfServingClient,
    server: RunningServer,
    images: tuple[np.ndarray, str],
    encoding: str,
    dtype: str,
) -> None:
    pixels, path = images
    answer = tfs.call("predict", images=path, encoding=encoding, dtype=dtype)
    assert answer["code"] == "OK", answer
    assert answer["version"] == 2 and answer["signature_name"] == "serving_default"
    probabilities = np.asarray(answer["outputs"]["probabilities"], dtype=np.float32)
    np.testing.assert_allclose(probabilities, rest_predictions(server, pixels), atol=1e-6)
    np.testing.assert_allclose(probabilities, expected_probabilities(2, pixels), atol=1e-5)


@pytest.mark.parametrize(
    ("choice", "version"),
    [({"version": 1}, 1), ({"version": 2}, 2), ({"label": "stable"}, 1), ({"label": "canary"}, 2)],
)
def test_versions_and_labels_pick_the_version(
    tfs: TfServingClient, images: tuple[np.ndarray, str], choice: dict[str, Any], version: int
) -> None:
    pixels, path = images
    answer = tfs.call("predict", images=path, **choice)
    assert answer["code"] == "OK" and answer["version"] == version
    probabilities = np.asarray(answer["outputs"]["probabilities"])
    np.testing.assert_allclose(probabilities, expected_probabilities(version, pixels), atol=1e-5)


@pytest.mark.parametrize(
    ("command", "code", "details"),
    [
        ({"op": "predict", "model": "nope"}, "NOT_FOUND", "no model named 'nope'"),
        ({"op": "predict", "version": 7}, "NOT_FOUND", "has no version 7"),
        ({"op": "predict", "label": "beta"}, "NOT_FOUND", "no version label 'beta'"),
        ({"op": "predict", "model": ""}, "INVALID_ARGUMENT", "model_spec.name is missing"),
        ({"op": "predict", "model": "empty"}, "UNAVAILABLE", "no loaded version"),
        ({"op": "predict", "signature": "classify"}, "FAILED_PRECONDITION", "not found"),
        ({"op": "predict", "input": "pixels"}, "INVALID_ARGUMENT", "the model takes"),
        ({"op": "predict", "output_filter": ["logits"]}, "INVALID_ARGUMENT", "unknown output"),
        (
            {"op": "predict", "encoding": "int_val", "shape": [8, 28, 28, 2]},
            "INVALID_ARGUMENT",
            "do not fill shape",
        ),
        (
            {"op": "predict", "encoding": "float_val", "shape": [8, 28, 27]},
            "INVALID_ARGUMENT",
            "do not fill shape",
        ),
        ({"op": "predict", "encoding": "zeros", "count": 25_000}, "RESOURCE_EXHAUSTED", ""),
        ({"op": "metadata", "fields": []}, "INVALID_ARGUMENT", "at least one metadata_field"),
        ({"op": "metadata", "fields": ["graph"]}, "INVALID_ARGUMENT", "'graph' is not supported"),
        ({"op": "metadata", "model": "nope"}, "NOT_FOUND", "no model named"),
        ({"op": "status", "model": "nope"}, "NOT_FOUND", "no model named"),
        ({"op": "status", "version": 9}, "NOT_FOUND", "has no version 9"),
        ({"op": "status", "model": "empty"}, "NOT_FOUND", "no versions yet"),
        (
            {"op": "raw", "method": "/tensorflow.serving.PredictionService/Predict", "hex": "0aff"},
            "INVALID_ARGUMENT",
            "not a PredictRequest",
        ),
        ({"op": "unsupported", "method": "Classify"}, "UNIMPLEMENTED", "call Predict"),
        ({"op": "unsupported", "method": "Regress"}, "UNIMPLEMENTED", "call Predict"),
        ({"op": "unsupported", "method": "MultiInference"}, "UNIMPLEMENTED", "call Predict"),
    ],
)
def test_each_error_has_tf_servings_code_and_the_server_keeps_serving(
    tfs: TfServingClient,
    images: tuple[np.ndarray, str],
    command: dict[str, Any],
    code: str,
    details: str,
) -> None:
    _, path = images
    answer = tfs.call(**{"images": path, **command})
    assert answer["code"] == code, answer
    assert details in answer["details"]
    assert tfs.call("predict", images=path)["code"] == "OK"


def test_a_values_out_of_range_batch_is_invalid(
    tfs: TfServingClient, images: tuple[np.ndarray, str], root: Path
) -> None:
    pixels, _ = images
    path = root / "bright.npy"
    np.save(path, pixels.astype(np.float32) + 300)
    answer = tfs.call("predict", images=str(path), dtype="float32")
    assert answer["code"] == "INVALID_ARGUMENT" and "0..255" in answer["details"]


def test_requests_are_counted_in_the_shared_prometheus_metrics(
    tfs: TfServingClient, server: RunningServer, images: tuple[np.ndarray, str]
) -> None:
    assert tfs.call("predict", images=images[1])["code"] == "OK"
    text = httpx.get(f"{server.rest}/monitoring/prometheus/metrics", timeout=10).text
    assert (
        'fashion_serving_requests_total{model="fashion-model",protocol="tf_grpc",'
        'status="OK",version="2"}' in text
    )
