"""The conformance essentials against the trained model committed at
models/fashion-model/ (skipped until the trainer has committed one)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.serving.app import build_app
from fashion_pubsub.serving.client import ServingClient
from tests.conftest import MODEL_BASE_PATH
from tests.support.serving import (
    MODEL,
    copy_committed_model,
    running_app,
    serve_in_thread,
    server_settings,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def committed_base(tmp_path: Path) -> Path:
    base = tmp_path / MODEL
    if not copy_committed_model(MODEL_BASE_PATH, base):
        pytest.skip(f"no committed model under {MODEL_BASE_PATH} yet")
    return base


@pytest.fixture
async def client(committed_base: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(build_app(server_settings(committed_base))) as client:
        yield client


def _test_images(data_dir: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    split = load_split(data_dir, "test")
    return split.images[:count], split.labels[:count]


async def test_signature_is_the_contract(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v2/models/{MODEL}")).json()
    assert body["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, 28, 28, 1]}]
    assert body["outputs"][0]["name"] == "probabilities"
    assert body["outputs"][0]["shape"][-1] == len(CLASS_NAMES)


async def test_old_clients_tf_predict_classifies_real_images(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    images, labels = _test_images(data_dir, 200)
    response = await client.post(
        f"/v1/models/{MODEL}:predict", json={"instances": images[..., None].tolist()}
    )
    assert response.status_code == 200
    predictions = np.asarray(response.json()["predictions"])
    assert predictions.shape == (200, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1, atol=1e-4)
    assert (predictions.argmax(axis=1) == labels).mean() > 0.85


def test_client_binary_v2_agrees_with_tf_json(committed_base: Path, data_dir: Path) -> None:
    images, labels = _test_images(data_dir, 256)
    with serve_in_thread(server_settings(committed_base)) as url:
        with ServingClient(f"{url}/v1/models/{MODEL}:predict") as client:
            prediction = client.classify(images)
        tf = httpx.post(
            f"{url}/v1/models/{MODEL}:predict",
            json={"instances": images[:8, :, :, None].tolist()},
            timeout=30,
        )
    assert prediction.model_version == "1"
    assert (prediction.probabilities.argmax(axis=1) == labels).mean() > 0.85
    np.testing.assert_allclose(prediction.probabilities[:8], tf.json()["predictions"], atol=1e-5)


async def test_normalised_pixels_are_refused_with_the_fix(client: httpx.AsyncClient) -> None:
    """The served model takes whole pixel values; 0..1 floats would all round to black."""
    response = await client.post(
        f"/v1/models/{MODEL}:predict", json={"instances": [[[0.5] * 28] * 28]}
    )
    assert response.status_code == 400
    assert "raw pixel values" in response.json()["error"]
