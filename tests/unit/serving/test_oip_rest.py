"""Open Inference Protocol (KServe V2) REST conformance, written from the specification:
health, server and model metadata, readiness, infer with JSON tensors and with the binary
tensor data extension (Inference-Header-Content-Length)."""

from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from fashion_pubsub.serving.app import build_app
from tests.support.serving import MODEL, expected_probabilities, running_app, server_settings

pytestmark = pytest.mark.anyio
INFER = f"/v2/models/{MODEL}/infer"


def _images(count: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def _binary_request(
    images: np.ndarray, binary_output: bool = True, **header_extra: object
) -> tuple[bytes, dict[str, str]]:
    header = {
        "id": "req-1",
        "inputs": [
            {
                "name": "images",
                "shape": list(images.shape),
                "datatype": "UINT8",
                "parameters": {"binary_data_size": images.nbytes},
            }
        ],
        **header_extra,
    }
    if binary_output:
        header["outputs"] = [{"name": "probabilities", "parameters": {"binary_data": True}}]
    json_part = orjson.dumps(header)
    return json_part + images.tobytes(), {
        "Inference-Header-Content-Length": str(len(json_part)),
        "Content-Type": "application/octet-stream",
    }


async def test_health_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    ready = await client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}


async def test_not_ready_while_no_version_is_loaded(tmp_path: Path) -> None:
    async with running_app(build_app(server_settings(tmp_path / "empty"))) as client:
        assert (await client.get("/v2/health/ready")).status_code == 503
        assert (await client.get("/v2/health/live")).status_code == 200
        response = await client.get(f"/v2/models/{MODEL}/ready")
        assert response.status_code == 503 and "error" in response.json()


async def test_server_metadata_names_the_binary_extension(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v2")).json()
    assert body["name"] and body["version"]
    assert "binary_tensor_data" in body["extensions"]


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/1"])
async def test_model_metadata(client: httpx.AsyncClient, path: str) -> None:
    body = (await client.get(path)).json()
    assert body["name"] == MODEL and body["versions"] == ["1"]
    assert body["platform"] == "onnxruntime_onnx"
    assert body["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert body["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]


async def test_model_ready(client: httpx.AsyncClient) -> None:
    for path in (f"/v2/models/{MODEL}/ready", f"/v2/models/{MODEL}/versions/1/ready"):
        response = await client.get(path)
        assert response.status_code == 200 and response.json()["ready"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/infer",
        f"/v2/models/{MODEL}/versions/9",
        f"/v2/models/{MODEL}/x/y",
    ],
)
async def test_unknown_model_or_version_is_404(client: httpx.AsyncClient, path: str) -> None:
    method = client.post if path.endswith("infer") else client.get
    response = await method(path, **({"json": {"inputs": []}} if method == client.post else {}))
    assert response.status_code == 404 and "error" in response.json()


async def test_infer_json_tensors(client: httpx.AsyncClient) -> None:
    images = _images(2)
    body = {
        "id": "abc",
        "inputs": [
            {
                "name": "images",
                "shape": [2, 28, 28, 1],
                "datatype": "FP32",
                "data": images.ravel().tolist(),
            }
        ],
    }
    response = await client.post(INFER, json=body)
    assert response.status_code == 200
    result = response.json()
    assert result["model_name"] == MODEL and result["model_version"] == "1"
    assert result["id"] == "abc"
    [output] = result["outputs"]
    assert output["name"] == "probabilities" and output["datatype"] == "FP32"
    assert output["shape"] == [2, 10]
    np.testing.assert_allclose(
        np.reshape(output["data"], (2, 10)), expected_probabilities(1, images), atol=1e-5
    )


@pytest.mark.parametrize("shape", [(64, 28, 28), (3, 28, 28, 1)])
async def test_infer_binary_uint8_in_binary_fp32_out(
    client: httpx.AsyncClient, shape: tuple[int, ...]
) -> None:
    images = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    body, headers = _binary_request(images)
    response = await client.post(
        f"/v2/models/{MODEL}/versions/1/infer", content=body, headers=headers
    )
    assert response.status_code == 200
    length = int(response.headers["Inference-Header-Content-Length"])
    header = orjson.loads(response.content[:length])
    [output] = header["outputs"]
    assert output["parameters"]["binary_data_size"] == shape[0] * 10 * 4
    values = np.frombuffer(response.content[length:], dtype=np.float32).reshape(shape[0], 10)
    np.testing.assert_allclose(values, expected_probabilities(1, images), atol=1e-5)


async def test_binary_input_json_output(client: httpx.AsyncClient) -> None:
    images = _images(1)
    body, headers = _binary_request(images, binary_output=False)
    response = await client.post(INFER, content=body, headers=headers)
    assert "Inference-Header-Content-Length" not in response.headers
    assert len(response.json()["outputs"][0]["data"]) == 10


async def test_binary_data_output_parameter_makes_every_output_binary(
    client: httpx.AsyncClient,
) -> None:
    images = _images(1)
    body, headers = _binary_request(
        images, binary_output=False, parameters={"binary_data_output": True}
    )
    response = await client.post(INFER, content=body, headers=headers)
    assert int(response.headers["Inference-Header-Content-Length"]) < len(response.content)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda h, b: (h, b[:-1]), "bytes"),
        (lambda h, b: (h, b + b"x"), "belong to no input"),
        (lambda h, b: ({**h, "inputs": [{**h["inputs"][0], "datatype": "BYTES"}]}, b), "datatype"),
        (lambda h, b: ({**h, "inputs": [{**h["inputs"][0], "shape": [1, 27, 29]}]}, b), "shape"),
        (lambda h, b: ({**h, "inputs": [{**h["inputs"][0], "name": "other"}]}, b), "images"),
        (lambda h, b: ({**h, "inputs": [{"name": "images"}]}, b), "name, shape and datatype"),
        (lambda h, b: ({**h, "outputs": [{"name": "nope"}]}, b), "unknown output"),
        (lambda h, b: ({**h, "inputs": "x"}, b), "inputs"),
    ],
)
async def test_bad_binary_requests_are_400(
    client: httpx.AsyncClient, mutate: object, fragment: str
) -> None:
    images = _images(1)
    header = {
        "inputs": [
            {
                "name": "images",
                "shape": [1, 28, 28],
                "datatype": "UINT8",
                "parameters": {"binary_data_size": images.nbytes},
            }
        ]
    }
    header, binary = mutate(header, images.tobytes())  # type: ignore[operator]
    json_part = orjson.dumps(header)
    response = await client.post(
        INFER,
        content=json_part + binary,
        headers={"Inference-Header-Content-Length": str(len(json_part))},
    )
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({"Inference-Header-Content-Length": "abc"}, b"{}"),
        ({"Inference-Header-Content-Length": "99999"}, b"{}"),
        ({}, b"\xff\xfe garbage"),
        (
            {},
            b'{"inputs": [{"name": "images", "shape": [1, 28, 28], "datatype": "FP32", '
            b'"data": [1, 2, 3]}]}',
        ),
        (
            {},
            b'{"inputs": [{"name": "images", "shape": [1, 28, 28], "datatype": "FP32", '
            b'"data": ["a"]}]}',
        ),
    ],
)
async def test_malformed_requests_are_400_not_crashes(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes
) -> None:
    response = await client.post(INFER, content=content, headers=headers)
    assert response.status_code == 400
    assert "error" in response.json()
    assert (await client.get("/v2/health/live")).status_code == 200


async def test_uint8_json_values_out_of_range(client: httpx.AsyncClient) -> None:
    body = {
        "inputs": [
            {"name": "images", "shape": [1, 28, 28], "datatype": "UINT8", "data": [300] * 784}
        ]
    }
    response = await client.post(INFER, json=body)
    assert response.status_code == 400
