"""TF Serving REST API conformance, written from its documentation (api_rest.md):
status, metadata, predict in row and columnar format, and {"error": ...} bodies."""

from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from fashion_pubsub.serving.app import build_app
from tests.support.serving import (
    MODEL,
    expected_probabilities,
    export_version,
    running_app,
    server_settings,
)

pytestmark = pytest.mark.anyio
PREDICT = f"/v1/models/{MODEL}:predict"


def _images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28, 1), dtype=np.uint8)


async def test_status_of_all_versions_in_tf_serving_shape(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/models/{MODEL}")
    assert response.status_code == 200
    assert response.json() == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


async def test_status_of_one_version(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/models/{MODEL}/versions/1")
    assert response.json()["model_version_status"][0]["version"] == "1"


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/models/{MODEL}/versions/7",
        "/v1/models/unknown",
        f"/v1/models/{MODEL}/labels/stable",
        "/v1/models/unknown:predict",
        "/v1/nothing-here",
    ],
)
async def test_unknown_model_version_or_label_is_404_with_error(
    client: httpx.AsyncClient, path: str
) -> None:
    method = client.post if path.endswith(":predict") else client.get
    response = await method(path)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


async def test_metadata_has_the_signature_def(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v1/models/{MODEL}/metadata")).json()
    assert body["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    images = signature["inputs"]["images"]
    assert images["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in images["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert signature["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"
    versioned = await client.get(f"/v1/models/{MODEL}/versions/1/metadata")
    assert versioned.json() == body


async def test_predict_row_format_with_old_clients_integers(client: httpx.AsyncClient) -> None:
    images = _images(3)
    response = await client.post(PREDICT, json={"instances": images.tolist()})
    assert response.status_code == 200
    predictions = np.asarray(response.json()["predictions"])
    np.testing.assert_allclose(predictions, expected_probabilities(1, images), atol=1e-5)


async def test_predict_row_format_with_named_inputs_and_signature(
    client: httpx.AsyncClient,
) -> None:
    images = _images(2)
    body = {
        "signature_name": "serving_default",
        "instances": [{"images": image.tolist()} for image in images],
    }
    response = await client.post(f"/v1/models/{MODEL}/versions/1:predict", json=body)
    np.testing.assert_allclose(
        response.json()["predictions"], expected_probabilities(1, images), atol=1e-5
    )


async def test_predict_columnar_format_answers_outputs(client: httpx.AsyncClient) -> None:
    images = _images(2)
    for inputs in (images.tolist(), {"images": images.tolist()}):
        response = await client.post(PREDICT, json={"inputs": inputs})
        assert response.status_code == 200
        np.testing.assert_allclose(
            response.json()["outputs"], expected_probabilities(1, images), atol=1e-5
        )


async def test_predict_accepts_images_without_the_channel_axis(client: httpx.AsyncClient) -> None:
    images = _images(2)
    response = await client.post(PREDICT, json={"instances": images[..., 0].tolist()})
    np.testing.assert_allclose(
        response.json()["predictions"], expected_probabilities(1, images), atol=1e-5
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"{}", "instances"),
        (b'{"instances": []}', "non-empty"),
        (b'{"instances": [[[[1]]]]}', "shape"),
        (b'{"instances": [[1, 2], [3]]}', "rectangular"),
        (b'{"instances": [["a"]]}', "numbers"),
        (b'{"signature_name": "other", "instances": [[1]]}', "signature"),
    ],
)
async def test_bad_requests_are_400_with_a_clear_error(
    client: httpx.AsyncClient, body: bytes, fragment: str
) -> None:
    response = await client.post(PREDICT, content=body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]


@pytest.mark.parametrize("value", [-1, 256, 1e9])
async def test_pixel_values_outside_0_255_are_refused(
    client: httpx.AsyncClient, value: float
) -> None:
    images = _images(1).astype(float)
    images[0, 5, 5, 0] = value
    response = await client.post(PREDICT, json={"instances": images.tolist()})
    assert response.status_code == 400
    assert "0..255" in response.json()["error"]


async def test_classify_and_regress_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v1/models/{MODEL}:classify", json={"examples": []})
    assert response.status_code == 400
    assert "predict" in response.json()["error"]


async def test_body_over_the_limit_is_413(model_base: Path) -> None:
    settings = server_settings(model_base, max_body_bytes=1024)
    async with running_app(build_app(settings)) as client:
        response = await client.post(PREDICT, json={"instances": _images(1).tolist()})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"/v1/models/{MODEL}")
    assert response.status_code == 405
    assert "error" in response.json()


async def test_labels_from_the_model_config_file(tmp_path: Path) -> None:
    base = tmp_path / "m"
    export_version(base, 1)
    export_version(base, 2)
    config = tmp_path / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{
    name: "{MODEL}"
    base_path: "m"   # relative to this file
    model_platform: "onnx"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
}}
""")
    settings = server_settings(base, model_config_file=config)
    async with running_app(build_app(settings)) as client:
        statuses = (await client.get(f"/v1/models/{MODEL}")).json()["model_version_status"]
        assert sorted(s["version"] for s in statuses) == ["1", "2"]
        for label, version in (("stable", 1), ("canary", 2)):
            images = _images(1)
            response = await client.post(
                f"/v1/models/{MODEL}/labels/{label}:predict", json={"instances": images.tolist()}
            )
            np.testing.assert_allclose(
                response.json()["predictions"], expected_probabilities(version, images), atol=1e-5
            )
            status = await client.get(f"/v1/models/{MODEL}/labels/{label}")
            assert status.json()["model_version_status"][0]["version"] == str(version)
        # no version given: the latest loaded one answers
        latest = await client.get(f"/v1/models/{MODEL}/metadata")
        assert latest.json()["model_spec"]["version"] == "2"


async def test_metrics_count_requests_by_model_version_protocol_status(
    client: httpx.AsyncClient,
) -> None:
    await client.post(PREDICT, json={"instances": _images(2).tolist()})
    await client.post(PREDICT, content=b"{bad")
    text = (await client.get("/monitoring/prometheus/metrics")).text
    assert (
        'fashion_serving_requests_total{model="fashion-model",protocol="tf_rest",'
        'status="200",version="1"} 1.0'
    ) in text
    assert 'status="400"' in text
    assert 'fashion_serving_batch_size_sum{model="fashion-model"} 2.0' in text
    assert 'fashion_serving_loaded_versions{model="fashion-model"} 1.0' in text
    assert "fashion_serving_request_latency_seconds_bucket" in text


async def test_repeated_shapes_take_the_fast_path_with_the_same_answers_and_checks(
    client: httpx.AsyncClient,
) -> None:
    """The second body of a shape is parsed without nested lists; results and 400s must
    not change."""
    answers = []
    for seed in (1, 2, 3):
        images = _images(2, seed)
        response = await client.post(PREDICT, content=orjson.dumps({"instances": images.tolist()}))
        answers.append(response.json()["predictions"])
        np.testing.assert_allclose(answers[-1], expected_probabilities(1, images), atol=1e-5)
    template = orjson.dumps({"instances": _images(2).tolist()})
    first = template.index(b"[[[[") + 4
    for bad, fragment in (
        (b"999", "0..255"),
        (b"-1", "0..255"),
        (b'"x"', "numbers"),
        (b"1.2.3", "JSON"),
        (b"", "rectangular"),
    ):
        end = template.index(b"]", first)
        body = template[:first] + bad + template[end:]
        response = await client.post(PREDICT, content=body)
        assert response.status_code == 400, bad
        assert fragment in response.json()["error"]
