"""A client for the pipeline: classify uint8 image batches on a model server.

Given the old design's predict URL, `http://host:port/v1/models/NAME[/versions/V]:predict`,
it speaks the Open Inference Protocol with the binary tensor data extension (raw bytes,
no JSON arrays) when the server has it, and falls back to TF Serving's JSON predict for
servers that do not (a real tensorflow_model_server).

Errors tell the caller what to do: ServingUnavailableError (back off and retry: the
server is down, overloaded, or has no model loaded yet), its subclass
ServingResponseError (the server answered something unusable: see answers.py), or
ServingRequestError (the request itself is bad: dead-letter it). Answer bodies are read
up to a limit that grows with the batch, so a runaway server cannot fill our memory.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from fashion_pubsub.closing import Closeable
from fashion_pubsub.serving.answers import (
    MAX_FIXED_BYTES,
    checked_probabilities,
    checked_version,
    max_answer_bytes,
)
from fashion_pubsub.serving.batches import binary_infer_header, image_batch
from fashion_pubsub.serving.errors import (
    ServingRequestError,
    ServingResponseError,
    ServingUnavailableError,
)
from fashion_pubsub.serving.keepalive import Answer, KeepAliveConnection

if TYPE_CHECKING:
    from fashion_pubsub.serving.model_client import ModelClient

_PREDICT_URL = re.compile(
    r"^(?P<base>https?://[^/]+)/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+))?:predict$"
)
_HEADER = "Inference-Header-Content-Length"
_HEADER_KEY = _HEADER.lower()  # as `Answer.headers` names it
_OUTPUT = "probabilities"
_FLOAT32_BYTES = 4


@dataclass(frozen=True)
class Prediction:
    """Class probabilities [N, 10] and the model version that produced them."""

    probabilities: np.ndarray
    model_version: str


class ServingClient(Closeable):
    """Classifies batches on one model; reuses connections. Use as a context manager.

    Args:
        predict_url: the TF Serving predict URL of the model.
        timeout: seconds for connecting and for each read of a response.
    """

    def __init__(self, predict_url: str, timeout: float = 10.0) -> None:
        match = _PREDICT_URL.match(predict_url.strip())
        if match is None:
            raise ServingRequestError(
                f"{predict_url!r} is not a predict URL; expected "
                "http://host:port/v1/models/NAME[/versions/V]:predict"
            )
        self.base, self.name, self.version = match["base"], match["name"], match["version"]
        self.predict_url = predict_url.strip()
        suffix = f"/versions/{self.version}" if self.version else ""
        self.infer_url = f"{self.base}/v2/models/{self.name}{suffix}/infer"
        self._connection = KeepAliveConnection(self.base, timeout)
        self._speaks_v2: bool | None = None
        self._tf_version: str | None = self.version

    def close(self) -> None:
        self._connection.close()

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        """Probabilities for uint8 images [N,28,28] (or [N,28,28,1]).

        Args:
            images: the batch.
            traceparent: a W3C traceparent sent as the request's header, if given.

        Raises:
            ServingUnavailableError: retry later (ServingResponseError: the server
                answered something unusable).
            ServingRequestError: this batch cannot succeed.
        """
        images = image_batch(images)
        self.connect()
        trace = {"traceparent": traceparent} if traceparent else {}
        return self._infer_v2(images, trace) if self._speaks_v2 else self._predict_tf(images, trace)

    def connect(self) -> str:
        """Open the connection and learn the server's protocol now, so the first batch does
        not pay for it. Returns which protocol will be used.

        Raises:
            ServingUnavailableError: the server does not answer (yet).
        """
        if self._speaks_v2 is None:
            self._speaks_v2 = self._probe_v2()
        return "Open Inference Protocol, binary" if self._speaks_v2 else "TF Serving predict, JSON"

    def _probe_v2(self) -> bool:
        answer = self._connection.request("GET", f"{self.base}/v2/health/live", MAX_FIXED_BYTES)
        try:
            body = _json(answer)
        except ServingResponseError:  # a server without V2 may answer 404 in HTML
            return False
        return answer.status_code == 200 and isinstance(body, dict) and "live" in body

    def _infer_v2(self, images: np.ndarray, trace: dict[str, str]) -> Prediction:
        header = binary_infer_header(images, _OUTPUT)
        answer = self._connection.request(
            "POST",
            self.infer_url,
            max_answer_bytes(len(images)),
            body=header + images.tobytes(),
            headers={
                _HEADER: str(len(header)),
                "Content-Type": "application/octet-stream",
                **trace,
            },
        )
        self._raise_for_status(answer)
        return _parse_v2(answer, len(images))

    def _predict_tf(self, images: np.ndarray, trace: dict[str, str]) -> Prediction:
        if self._tf_version is None:
            self._tf_version = self._tf_latest_version()
        body = orjson.dumps(
            {"instances": images.reshape(len(images), 28, 28, 1)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        answer = self._connection.request(
            "POST",
            self.predict_url,
            max_answer_bytes(len(images)),
            body=body,
            headers={"Content-Type": "application/json", **trace},
        )
        self._raise_for_status(answer)
        document = _json(answer)
        if not isinstance(document, dict) or "predictions" not in document:
            raise ServingResponseError(
                f"{self.predict_url} answered without predictions: {answer.body[:200]!r}"
            )
        probabilities = checked_probabilities(
            document["predictions"], len(images), self.predict_url
        )
        return Prediction(probabilities, self._tf_version)

    def _tf_latest_version(self) -> str:
        answer = self._connection.request(
            "GET", f"{self.base}/v1/models/{self.name}", MAX_FIXED_BYTES
        )
        self._raise_for_status(answer)
        try:
            rows = _json(answer)["model_version_status"]
            versions = [int(r["version"]) for r in rows if r.get("state") == "AVAILABLE"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ServingResponseError(f"{self.base} has no usable model status") from exc
        if not versions:
            raise ServingUnavailableError(f"model {self.name!r} has no AVAILABLE version yet")
        return checked_version(max(versions), self.base)

    def _raise_for_status(self, answer: Answer) -> None:
        if answer.status_code < 400:
            return
        message = f"{answer.url} answered {answer.status_code}: {_error(answer)}"
        # 400/413/422: this batch is bad. 404 and 5xx: the server or its model is not
        # there yet (or being replaced): the message itself is fine, so retry it later.
        if answer.status_code in (400, 413, 422):
            raise ServingRequestError(message)
        raise ServingUnavailableError(message)


def open_model_client(url: str, timeout: float = 10.0) -> "ModelClient":
    """The client for `url`: gRPC for grpc://host:port/NAME[/versions/V], else REST."""
    if url.strip().startswith("grpc://"):
        from fashion_pubsub.serving.grpc_client import GrpcServingClient

        return GrpcServingClient(url, timeout)
    return ServingClient(url, timeout)


def _json(answer: Answer) -> Any:
    """The body as JSON.

    Raises:
        ServingResponseError: it is not JSON.
    """
    try:
        return orjson.loads(answer.body)
    except orjson.JSONDecodeError as exc:
        raise ServingResponseError(
            f"{answer.url} answered {answer.status_code} with a body that is not JSON: "
            f"{answer.body[:200]!r}"
        ) from exc


def _parse_v2(answer: Answer, count: int) -> Prediction:
    """The probabilities of a V2 answer, JSON or binary tensor data.

    Raises:
        ServingResponseError: anything in it is missing, malformed or inconsistent.
    """
    body = answer.body
    length = answer.headers.get(_HEADER_KEY)
    try:
        header_size = int(length) if length else len(body)
        if not 0 < header_size <= len(body):
            raise ValueError(f"header length {length} for a body of {len(body)} bytes")
        header = orjson.loads(body[:header_size])
        outputs = header["outputs"]
        output = next(o for o in outputs if o["name"] == _OUTPUT)
        if "data" in output:
            values: Any = output["data"]
        else:
            values = _binary_values(body, header_size, outputs, output, count)
        if isinstance(values, list) and output.get("shape") != [count, 10]:
            raise ValueError(f"shape {output.get('shape')!r} for {count} images")
        if isinstance(values, list):  # JSON data: flat (row-major) or nested
            flat = np.asarray(values, dtype=object).reshape(-1)
            values = _numbers(flat, answer.url).reshape(count, 10)
        version = checked_version(header.get("model_version", ""), answer.url)
    except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as exc:
        raise ServingResponseError(
            f"{answer.url} answered a V2 response that cannot be read: {exc!r}"
        ) from exc
    return Prediction(checked_probabilities(values, count, answer.url), version)


def _binary_values(
    body: bytes, offset: int, outputs: list[Any], output: dict[str, Any], count: int
) -> np.ndarray:
    """The output's float32 values from the binary part after the JSON header."""
    if output.get("datatype") != "FP32":
        raise ValueError(f"datatype {output.get('datatype')!r}, not FP32")
    if output.get("shape") != [count, 10]:
        raise ValueError(f"shape {output.get('shape')!r} for {count} images")
    for other in outputs:
        if other is output:
            break
        offset += int((other.get("parameters") or {}).get("binary_data_size", 0))
    size = int(output["parameters"]["binary_data_size"])
    if size != count * 10 * _FLOAT32_BYTES or offset < 0 or offset + size > len(body):
        raise ValueError(f"{size} bytes of data at {offset} in a body of {len(body)}")
    return np.frombuffer(body[offset : offset + size], dtype="<f4").reshape(count, 10)


def _numbers(values: np.ndarray, url: str) -> np.ndarray:
    """JSON numbers as floats; bools, strings and nested lists are not numbers."""
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ServingResponseError(f"{url} answered probabilities that are not all numbers")
    return values.astype(np.float64)


def _error(answer: Answer) -> str:
    try:
        document = orjson.loads(answer.body)
        return str(document.get("error", answer.body[:200]))
    except (orjson.JSONDecodeError, AttributeError):
        return repr(answer.body[:200])
