"""Property: whatever body a client sends to either protocol, the answer is a 200 or a
4xx with {"error": ...}, never a 500, and the server keeps answering."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fashion_pubsub.serving.app import build_app
from tests.support.serving import MODEL, export_version, running_app, server_settings

INFER = f"/v2/models/{MODEL}/infer"
PREDICT = f"/v1/models/{MODEL}:predict"
REFUSALS = {400, 404, 408, 413}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=5)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
# Sizes near powers of two make numpy's int64 product wrap around (to 0, say).
dimensions = st.integers(min_value=-2, max_value=2**64) | st.sampled_from(
    [0, 1, 28, 784, 2**31, 2**32, 2**62, 2**63 - 1]
)
shapes = (
    st.lists(dimensions, max_size=6)
    | st.just([1, 28, 28])
    | st.lists(st.just(1), min_size=60, max_size=70)
    | json_values
)
datatypes = st.sampled_from(["UINT8", "FP32", "FP16", "INT64", "BOOL", "BYTES", "fp32"]) | scalars
pixels = st.lists(st.integers(min_value=-5, max_value=300) | st.floats(), max_size=800)


@st.composite
def tensors(draw: st.DrawFn) -> Any:
    tensor: dict[str, Any] = {
        "name": draw(st.sampled_from(["images", "other"]) | scalars),
        "shape": draw(shapes),
        "datatype": draw(datatypes),
    }
    if draw(st.booleans()):
        size = st.sampled_from([0, 1, 784]) | st.integers(-1, 2000) | scalars
        tensor["parameters"] = {"binary_data_size": draw(size)}
    else:
        tensor["data"] = draw(pixels | json_values)
    return draw(st.just(tensor) | json_values)


@st.composite
def infer_bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    header: dict[str, Any] = {"inputs": draw(st.lists(tensors(), max_size=2) | json_values)}
    if draw(st.booleans()):
        header["outputs"] = draw(
            st.lists(st.fixed_dictionaries({"name": st.just("probabilities") | json_values}))
            | json_values
        )
    if draw(st.booleans()):
        header["parameters"] = draw(json_values)
    json_part = json.dumps(header).encode()
    declared = _declared_sizes(header["inputs"])
    binary = draw(st.just(bytes(sum(declared))) | st.binary(max_size=1600))
    length = draw(st.just(str(len(json_part))) | st.text("0123456789 -+_.ex", max_size=6))
    headers = {"Inference-Header-Content-Length": length} if binary or draw(st.booleans()) else {}
    return json_part + binary, headers


def _binary_request(shape: list[int], size: int, **extra: Any) -> tuple[bytes, dict[str, str]]:
    """A UINT8 binary request for `shape` carrying `size` zero bytes."""
    tensor = {
        "name": "images",
        "shape": shape,
        "datatype": "UINT8",
        "parameters": {"binary_data_size": size},
    }
    json_part = json.dumps({"inputs": [tensor], **extra}).encode()
    return json_part + bytes(size), {"Inference-Header-Content-Length": str(len(json_part))}


def _declared_sizes(inputs: Any) -> list[int]:
    """The binary_data_size values a header declares, to send that many bytes."""
    sizes = []
    for tensor in inputs if isinstance(inputs, list) else []:
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if isinstance(size, int) and 0 <= size <= 2000:
            sizes.append(size)
    return sizes


predict_bodies = st.fixed_dictionaries(
    {},
    optional={
        "instances": json_values | st.lists(st.lists(pixels, max_size=3), max_size=3),
        "inputs": json_values,
        "signature_name": st.just("serving_default") | scalars,
    },
).map(lambda body: json.dumps(body).encode())


class _Client:
    """The in-process app, called from Hypothesis' synchronous tests through a portal
    (one app and lifespan for all examples)."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, client: httpx.AsyncClient):
        self._portal, self._client = portal, client

    def post(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> None:
        """POST and check the answer is a 200, or a 4xx with a reason."""
        response = self._portal.call(
            lambda: self._client.post(path, content=content, headers=headers)
        )
        assert response.status_code == 200 or response.status_code in REFUSALS, response.text
        if response.status_code != 200:
            assert response.json()["error"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Client]:
    base: Path = tmp_path_factory.mktemp("models") / MODEL
    export_version(base, 1)
    app = build_app(server_settings(base))
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_app(app)) as client,
    ):
        yield _Client(portal, client)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=infer_bodies())
# Found by hand before this property existed; each was a 500.
@example(request=_binary_request([2**62, 4], 0))  # numpy's product wraps to 0
@example(request=_binary_request([1] * 70, 1))  # numpy allows 64 dimensions
@example(request=_binary_request([1, 28, 28], 784, outputs=[{"name": ["x"]}]))
def test_any_infer_body_is_answered_or_refused_with_a_reason(
    client: _Client, request: tuple[bytes, dict[str, str]]
) -> None:
    body, headers = request
    client.post(INFER, body, headers)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=predict_bodies | st.binary(max_size=200))
@example(body=b'{"instances": [[null], {"": null}]}')  # found by this test: was a 500
def test_any_predict_body_is_answered_or_refused_with_a_reason(
    client: _Client, body: bytes
) -> None:
    client.post(PREDICT, body)
