"""A model server's answer is untrusted: anything but a finite distribution per image,
of the batch's shape, becomes ServingResponseError (the server failing: retry later),
never a record written from it and never another exception."""

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from fashion_pubsub.serving.client import ServingClient
from fashion_pubsub.serving.errors import ServingResponseError, ServingUnavailableError

URL = "http://model.test/v1/models/fashion-model:predict"
IMAGES = np.zeros((2, 28, 28), dtype=np.uint8)
GOOD = [[0.1] * 10, [0.0] * 9 + [1.0]]

Handler = Callable[[httpx.Request], httpx.Response]


def _v2_json(data: Any, shape: Any = (2, 10), **extra: Any) -> httpx.Response:
    output = {"name": "probabilities", "datatype": "FP32", "shape": list(shape), "data": data}
    return httpx.Response(
        200, content=orjson.dumps({"model_version": "1", "outputs": [output], **extra})
    )


def _v2_binary(
    values: np.ndarray, datatype: str = "FP32", size: int | None = None
) -> httpx.Response:
    raw = values.tobytes()
    header = orjson.dumps(
        {
            "model_version": "1",
            "outputs": [
                {
                    "name": "probabilities",
                    "datatype": datatype,
                    "shape": list(values.shape),
                    "parameters": {"binary_data_size": len(raw) if size is None else size},
                }
            ],
        }
    )
    return httpx.Response(
        200,
        content=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def _server(answer: Callable[[], httpx.Response], v2: bool = True) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/health/live":
            return httpx.Response(200, json={"live": True}) if v2 else httpx.Response(404)
        if path == "/v1/models/fashion-model":
            return httpx.Response(
                200, json={"model_version_status": [{"version": "1", "state": "AVAILABLE"}]}
            )
        return answer()

    return httpx.MockTransport(handle)


def _classify(transport: httpx.MockTransport) -> Any:
    with ServingClient(URL, transport=transport) as client:
        return client.classify(IMAGES)


def test_a_good_answer_is_accepted_in_both_protocols() -> None:
    expected = np.asarray(GOOD, dtype=np.float32)
    for transport in (
        _server(lambda: _v2_json(sum(GOOD, []))),
        _server(lambda: _v2_binary(expected)),
        _server(lambda: httpx.Response(200, json={"predictions": GOOD}), v2=False),
    ):
        prediction = _classify(transport)
        np.testing.assert_allclose(prediction.probabilities, expected)
        assert prediction.model_version == "1"


NAN = float("nan")
BAD_ROWS = {
    "nan": [[NAN] * 10, GOOD[1]],
    "infinity": [[float("inf")] + [0.0] * 9, GOOD[1]],
    "negative": [[-0.5, 1.5] + [0.0] * 8, GOOD[1]],
    "not normalised (logits)": [[3.0, -1.0, 2.0] + [0.0] * 7, GOOD[1]],
    "all zero": [[0.0] * 10, GOOD[1]],
    "too few classes": [[0.5, 0.5], [0.5, 0.5]],
    "too few images": [GOOD[0]],
    "too many images": [GOOD[0]] * 3,
}


@pytest.mark.parametrize("rows", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_bad_probabilities_are_refused_in_every_protocol(rows: list[list[float]]) -> None:
    values = np.asarray(rows, dtype=np.float32)
    answers = [
        _server(lambda: _v2_binary(values)),
        _server(lambda: _v2_json(values.reshape(-1).tolist(), shape=values.shape)),
        # TF Serving JSON has no NaN: a server that writes it anyway writes `NaN`.
        _server(
            lambda: httpx.Response(
                200, content=b'{"predictions": %s}' % str(rows).replace("nan", "NaN").encode()
            ),
            v2=False,
        ),
    ]
    for transport in answers:
        with pytest.raises(ServingResponseError):
            _classify(transport)


BAD_ANSWERS: dict[str, Callable[[], httpx.Response]] = {
    "not json": lambda: httpx.Response(200, content=b"<html>hello</html>"),
    "json but no outputs": lambda: httpx.Response(200, json={"result": 1}),
    "a json list": lambda: httpx.Response(200, json=[1, 2, 3]),
    "strings": lambda: _v2_json(["0.1"] * 20),
    "booleans": lambda: _v2_json([True] * 20),
    "ragged nesting": lambda: _v2_json([[0.1, [0.1]]] * 10),
    "nulls": lambda: _v2_json([None] * 20),
    "declared shape wrong": lambda: _v2_json(sum(GOOD, []), shape=(4, 5)),
    "FP64 binary": lambda: _v2_binary(np.asarray(GOOD, dtype=np.float64), datatype="FP64"),
    "INT8 declared for FP32 bytes": lambda: _v2_binary(
        np.asarray(GOOD, dtype=np.float32), datatype="INT8"
    ),
    "binary size past the body": lambda: _v2_binary(np.asarray(GOOD, dtype=np.float32), size=10**9),
    "header length past the body": lambda: httpx.Response(
        200, content=b"{}", headers={"Inference-Header-Content-Length": "99999"}
    ),
    "header length not a number": lambda: httpx.Response(
        200, content=b"{}", headers={"Inference-Header-Content-Length": "x"}
    ),
    "huge version": lambda: _v2_json(sum(GOOD, []), model_version="9" * 5000),
    "version with a path": lambda: _v2_json(sum(GOOD, []), model_version="../../etc"),
    "version an object": lambda: _v2_json(sum(GOOD, []), model_version={"a": 1}),
    "huge body": lambda: httpx.Response(200, content=b" " * 50_000_000),
    "huge declared body": lambda: httpx.Response(
        200, content=b"{}", headers={"Content-Length": str(10**12)}
    ),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_malformed_v2_answer_is_a_response_error(answer: Callable[[], httpx.Response]) -> None:
    with pytest.raises(ServingResponseError):
        _classify(_server(answer))


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"predictions": "none"}', b"[]", b'{"predictions": [[1e400]]}', b" " * 10**8],
    ids=["not json", "a string", "a list", "overflow", "huge"],
)
def test_a_malformed_tf_answer_is_a_response_error(body: bytes) -> None:
    with pytest.raises(ServingResponseError):
        _classify(_server(lambda: httpx.Response(200, content=body), v2=False))


def test_a_response_error_is_handled_as_the_server_failing() -> None:
    """Callers that back off on ServingUnavailableError keep working unchanged."""
    with pytest.raises(ServingUnavailableError):
        _classify(_server(lambda: _v2_json([NAN] * 20)))
