"""Hostile and malformed requests get a 4xx with a reason, never a 500 and never a hang:
shapes whose size overflows, odd names and datatypes, bodies that never finish."""

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import numpy as np
import orjson
import pytest

from fashion_pubsub.serving.app import build_app
from tests.support.serving import (
    MODEL,
    running_app,
    server_settings,
)

pytestmark = pytest.mark.anyio
INFER = f"/v2/models/{MODEL}/infer"
PREDICT = f"/v1/models/{MODEL}:predict"


def _binary_infer(shape: list[int], payload: bytes, datatype: str = "UINT8") -> dict[str, object]:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": shape,
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(payload)},
                }
            ]
        }
    )
    return {
        "content": header + payload,
        "headers": {"Inference-Header-Content-Length": str(len(header))},
    }


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ([2**62, 4], "more than"),  # the product wraps around in int64
        ([2**40, 2**40, 2**40], "more than"),
        ([2**63 - 1, 2], "more than"),
        ([0, 2**62], "more than"),  # no values, but numpy cannot make even the empty array
        ([1] * 100, "dimensions"),  # numpy allows 64
        ([1, -28, 28], "non-negative"),
        ([1, 28.0, 28], "non-negative"),
        ([1, True, 28], "non-negative"),
        ("1,28,28", "list"),
    ],
)
async def test_absurd_binary_shapes_are_400(
    client: httpx.AsyncClient, shape: list[int], fragment: str
) -> None:
    response = await client.post(INFER, **_binary_infer(shape, bytes(784)))  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("shape", "data", "fragment"),
    [
        ([1] * 100, [1], "dimensions"),
        ([0, 2**60], [], "more than"),  # found by test_request_properties: it was a 500
    ],
)
async def test_absurd_json_shape_is_400(
    client: httpx.AsyncClient, shape: list[int], data: list[int], fragment: str
) -> None:
    body = {"inputs": [{"name": "images", "shape": shape, "datatype": "UINT8", "data": data}]}
    response = await client.post(INFER, json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize(
    ("inputs_or_outputs", "fragment"),
    [
        ({"outputs": [{"name": ["probabilities"]}]}, "name"),
        ({"outputs": [{"name": None}]}, "name"),
        ({"outputs": "probabilities"}, "outputs"),
        ({"inputs": [{"name": ["images"], "shape": [1], "datatype": "FP32", "data": [1]}]}, "name"),
        (
            {"inputs": [{"name": "images", "shape": [1], "datatype": ["FP32"], "data": [1]}]},
            "datatype",
        ),
        (
            {"inputs": [{"name": "images", "shape": [1], "datatype": "float32", "data": [1]}]},
            "datatype",
        ),
        (
            {"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": ["a"]}]},
            "datatype",
        ),
    ],
)
async def test_odd_names_and_datatypes_are_400(
    client: httpx.AsyncClient, inputs_or_outputs: dict[str, object], fragment: str
) -> None:
    images = np.zeros((1, 28, 28), np.uint8)
    body = {
        "inputs": [
            {
                "name": "images",
                "shape": [1, 28, 28],
                "datatype": "UINT8",
                "data": images.ravel().tolist(),
            }
        ],
        **inputs_or_outputs,
    }
    response = await client.post(INFER, json=body)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


async def test_an_input_given_twice_is_400(client: httpx.AsyncClient) -> None:
    tensor = {"name": "images", "shape": [1, 28, 28], "datatype": "UINT8", "data": [0] * 784}
    response = await client.post(INFER, json={"inputs": [tensor, tensor]})
    assert response.status_code == 400
    assert "twice" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (PREDICT, b'{"instances": ' + b"[" * 2000 + b"]" * 2000 + b"}"),
        (PREDICT, b'{"instances": ' + b"[" * 100 + b"1" + b"]" * 100 + b"}"),
        (INFER, b'{"inputs": ' + b"[" * 2000 + b"]" * 2000 + b"}"),
        (
            INFER,
            b'{"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": '
            + b"[" * 100
            + b"1"
            + b"]" * 100
            + b"}]}",
        ),
        (PREDICT, b'{"instances": [[' + b"9" * 5000 + b"]]}"),
        (PREDICT, b"\xff\xfe\x00"),
        (PREDICT, b'{"instances": [[1], {"a": 1}]}'),
        (INFER, b""),
    ],
)
async def test_deep_nesting_huge_numbers_and_non_json_are_400(
    client: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]


async def test_error_messages_do_not_echo_huge_values(client: httpx.AsyncClient) -> None:
    shape = list(range(1, 5000))
    response = await client.post(INFER, **_binary_infer(shape, bytes(784)))  # type: ignore[arg-type]
    assert response.status_code == 400
    assert len(response.json()["error"]) < 400


async def test_a_body_that_stops_arriving_is_408_and_the_server_goes_on(
    model_base: Path,
) -> None:
    async def stalled() -> AsyncIterator[bytes]:
        yield b'{"instances": ['
        await anyio.sleep_forever()

    settings = server_settings(model_base, rest_api_body_timeout_seconds=0.2)
    async with running_app(build_app(settings)) as client:
        with anyio.fail_after(60):  # before the fix, this request never ended
            response = await client.post(PREDICT, content=stalled())
        assert response.status_code == 408
        assert "did not arrive" in response.json()["error"]
        assert response.headers["connection"] == "close"
        ok = await client.post(PREDICT, json={"instances": np.zeros((1, 28, 28)).tolist()})
        assert ok.status_code == 200
