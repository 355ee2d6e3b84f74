"""A model server's answer is untrusted: anything but a finite distribution per image,
of the batch's shape, becomes ServingResponseError (the server failing: retry later),
never a record written from it and never another exception.

The answers come from a real HTTP server on 127.0.0.1, so the client's own reading of
them (limits, keep-alive) is what is tested."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import orjson
import pytest

from fashion_pubsub.serving.client import ServingClient
from fashion_pubsub.serving.errors import ServingResponseError, ServingUnavailableError

IMAGES = np.zeros((2, 28, 28), dtype=np.uint8)
GOOD = [[0.1] * 10, [0.0] * 9 + [1.0]]

Reply = tuple[int, dict[str, str], bytes]  # status, headers, body


def _reply(body: bytes = b"", status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return status, headers or {}, body


def _json(document: Any, status: int = 200) -> Reply:
    return status, {}, orjson.dumps(document)


def _v2_json(data: Any, shape: Any = (2, 10), **extra: Any) -> Reply:
    output = {"name": "probabilities", "datatype": "FP32", "shape": list(shape), "data": data}
    return _json({"model_version": "1", "outputs": [output], **extra})


def _v2_binary(values: np.ndarray, datatype: str = "FP32", size: int | None = None) -> Reply:
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
    return 200, {"Inference-Header-Content-Length": str(len(header))}, header + raw


@contextmanager
def _server(
    answer: Callable[[], Reply], v2: bool = True, close_after_answer: bool = False
) -> Iterator[tuple[str, list[int]]]:
    """A model server that answers every predict request with `answer()`. Yields its
    predict URL and the number of connections it accepted (a one-item list)."""
    connections = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # kept alive, as a real server does
        disable_nagle_algorithm = True  # headers and body go in two writes

        def setup(self) -> None:
            connections[0] += 1
            super().setup()

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._answer()

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._answer()

        def _answer(self) -> None:
            if self.path == "/v2/health/live":
                status, headers, body = _json({"live": True}) if v2 else _reply(status=404)
            elif self.path == "/v1/models/fashion-model":
                rows = [{"version": "1", "state": "AVAILABLE"}]
                status, headers, body = _json({"model_version_status": rows})
            else:
                status, headers, body = answer()
            self.send_response(status)
            if "Transfer-Encoding" not in headers:
                headers = {"Content-Length": str(len(body)), **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading a body it will not take
            # Closed without saying so, as a server whose keep-alive timed out does.
            self.close_connection = close_after_answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll interval: shutdown() waits for it.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield f"http://127.0.0.1:{port}/v1/models/fashion-model:predict", connections
    finally:
        server.shutdown()
        server.server_close()


def _classify(answer: Callable[[], Reply], v2: bool = True) -> Any:
    with _server(answer, v2) as (url, _), ServingClient(url) as client:
        return client.classify(IMAGES)


def test_a_good_answer_is_accepted_in_both_protocols() -> None:
    expected = np.asarray(GOOD, dtype=np.float32)
    for answer, v2 in (
        (lambda: _v2_json(sum(GOOD, [])), True),
        (lambda: _v2_binary(expected), True),
        (lambda: _json({"predictions": GOOD}), False),
    ):
        prediction = _classify(answer, v2)
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
    answers: list[tuple[Callable[[], Reply], bool]] = [
        (lambda: _v2_binary(values), True),
        (lambda: _v2_json(values.reshape(-1).tolist(), shape=values.shape), True),
        # TF Serving JSON has no NaN: a server that writes it anyway writes `NaN`.
        (
            lambda: _reply(b'{"predictions": %s}' % str(rows).replace("nan", "NaN").encode()),
            False,
        ),
    ]
    for answer, v2 in answers:
        with pytest.raises(ServingResponseError):
            _classify(answer, v2)


BAD_ANSWERS: dict[str, Callable[[], Reply]] = {
    "not json": lambda: _reply(b"<html>hello</html>"),
    "json but no outputs": lambda: _json({"result": 1}),
    "a json list": lambda: _json([1, 2, 3]),
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
    "header length past the body": lambda: _reply(
        b"{}", headers={"Inference-Header-Content-Length": "99999"}
    ),
    "header length not a number": lambda: _reply(
        b"{}", headers={"Inference-Header-Content-Length": "x"}
    ),
    "huge version": lambda: _v2_json(sum(GOOD, []), model_version="9" * 5000),
    "version with a path": lambda: _v2_json(sum(GOOD, []), model_version="../../etc"),
    "version an object": lambda: _v2_json(sum(GOOD, []), model_version={"a": 1}),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_malformed_v2_answer_is_a_response_error(answer: Callable[[], Reply]) -> None:
    with pytest.raises(ServingResponseError):
        _classify(answer)


HUGE = b" " * 50_000_000
HUGE_ANSWERS: dict[str, Callable[[], Reply]] = {
    "huge body": lambda: _reply(HUGE),
    "huge body, no length given": lambda: _reply(
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(HUGE), HUGE), headers={"Transfer-Encoding": "chunked"}
    ),
    "huge declared body": lambda: _reply(b"{}", headers={"Content-Length": str(10**12)}),
}


@pytest.mark.parametrize("answer", HUGE_ANSWERS.values(), ids=HUGE_ANSWERS.keys())
def test_an_answer_over_the_size_limit_is_refused_without_reading_it_all(
    answer: Callable[[], Reply],
) -> None:
    with pytest.raises(ServingResponseError, match="answered (over )?[0-9]+ bytes"):
        _classify(answer)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"predictions": "none"}', b"[]", b'{"predictions": [[1e400]]}', b" " * 10**8],
    ids=["not json", "a string", "a list", "overflow", "huge"],
)
def test_a_malformed_tf_answer_is_a_response_error(body: bytes) -> None:
    with pytest.raises(ServingResponseError):
        _classify(lambda: _reply(body), v2=False)


def test_a_response_error_is_handled_as_the_server_failing() -> None:
    """Callers that back off on ServingUnavailableError keep working unchanged."""
    with pytest.raises(ServingUnavailableError):
        _classify(lambda: _v2_json([NAN] * 20))


def test_a_connection_the_server_closed_is_opened_again_for_the_next_request() -> None:
    expected = np.asarray(GOOD, dtype=np.float32)
    answer = lambda: _v2_binary(expected)  # noqa: E731
    with _server(answer, close_after_answer=True) as (url, connections):
        with ServingClient(url) as client:
            for _ in range(3):
                np.testing.assert_allclose(client.classify(IMAGES).probabilities, expected)
        assert connections[0] >= 3


def test_a_server_that_is_gone_is_unavailable_not_an_error_of_the_batch() -> None:
    with _server(lambda: _v2_json(sum(GOOD, []))) as (url, _):
        pass  # stopped: nothing listens on its port any more
    with ServingClient(url, timeout=2.0) as client, pytest.raises(ServingUnavailableError):
        client.classify(IMAGES)
