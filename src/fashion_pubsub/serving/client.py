"""A client for the pipeline: classify uint8 image batches on a model server.

Given the old design's predict URL, `http://host:port/v1/models/NAME[/versions/V]:predict`,
it speaks the Open Inference Protocol with the binary tensor data extension (raw bytes,
no JSON arrays) when the server has it, and falls back to TF Serving's JSON predict for
servers that do not (a real tensorflow_model_server).

Errors tell the caller what to do: ServingUnavailableError (back off and retry: the
server is down, overloaded, or has no model loaded yet) or ServingRequestError (the
request itself is bad: dead-letter it).
"""

import re
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import orjson

from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError

if TYPE_CHECKING:
    from fashion_pubsub.serving.model_client import ModelClient

_PREDICT_URL = re.compile(
    r"^(?P<base>https?://[^/]+)/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>\d+))?:predict$"
)
_HEADER = "Inference-Header-Content-Length"
_OUTPUT = "probabilities"


@dataclass(frozen=True)
class Prediction:
    """Class probabilities [N, 10] and the model version that produced them."""

    probabilities: np.ndarray
    model_version: str


class ServingClient:
    """Classifies batches on one model; reuses connections. Use as a context manager.

    Args:
        predict_url: the TF Serving predict URL of the model.
        timeout: seconds for connecting and for each response.
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
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._speaks_v2: bool | None = None
        self._tf_version: str | None = self.version

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def classify(self, images: np.ndarray) -> Prediction:
        """Probabilities for uint8 images [N,28,28] (or [N,28,28,1]).

        Raises:
            ServingUnavailableError: retry later.
            ServingRequestError: this batch cannot succeed.
        """
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ServingRequestError(
                f"images must be a non-empty [N,28,28] batch, got shape {list(images.shape)}"
            )
        self.connect()
        return self._infer_v2(images) if self._speaks_v2 else self._predict_tf(images)

    def connect(self) -> str:
        """Open the connection and learn the server's protocol now, so the first batch does
        not pay for it. Returns which protocol will be used.

        Raises:
            ServingUnavailableError: the server does not answer (yet).
        """
        if self._speaks_v2 is None:
            self._speaks_v2 = self._probe_v2()
        return "Open Inference Protocol, binary" if self._speaks_v2 else "TF Serving predict, JSON"

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_keepalive_connections=4),
            )
        return self._client

    def _probe_v2(self) -> bool:
        response = self._send("GET", f"{self.base}/v2/health/live")
        try:
            return response.status_code == 200 and "live" in response.json()
        except ValueError:
            return False

    def _infer_v2(self, images: np.ndarray) -> Prediction:
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "images",
                        "shape": list(images.shape),
                        "datatype": "UINT8",
                        "parameters": {"binary_data_size": images.nbytes},
                    }
                ],
                "outputs": [{"name": _OUTPUT, "parameters": {"binary_data": True}}],
            }
        )
        response = self._send(
            "POST",
            self.infer_url,
            content=header + images.tobytes(),
            headers={_HEADER: str(len(header)), "Content-Type": "application/octet-stream"},
        )
        self._raise_for_status(response)
        return _parse_v2(response, len(images))

    def _predict_tf(self, images: np.ndarray) -> Prediction:
        if self._tf_version is None:
            self._tf_version = self._tf_latest_version()
        body = orjson.dumps(
            {"instances": images.reshape(len(images), 28, 28, 1)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        response = self._send(
            "POST", self.predict_url, content=body, headers={"Content-Type": "application/json"}
        )
        self._raise_for_status(response)
        try:
            probabilities = np.asarray(response.json()["predictions"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise ServingUnavailableError(
                f"{self.predict_url} answered without predictions: {response.text[:200]}"
            ) from exc
        return Prediction(_checked(probabilities, len(images), self.predict_url), self._tf_version)

    def _tf_latest_version(self) -> str:
        response = self._send("GET", f"{self.base}/v1/models/{self.name}")
        self._raise_for_status(response)
        try:
            rows = response.json()["model_version_status"]
            versions = [int(r["version"]) for r in rows if r.get("state") == "AVAILABLE"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ServingUnavailableError(f"{self.base} has no usable model status") from exc
        if not versions:
            raise ServingUnavailableError(f"model {self.name!r} has no AVAILABLE version yet")
        return str(max(versions))

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http().request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ServingUnavailableError(
                f"model server at {self.base} cannot be reached ({exc!r}); start it or fix the URL"
            ) from exc

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        message = f"{response.request.url} answered {response.status_code}: {_error(response)}"
        # 400/413/422: this batch is bad. 404 and 5xx: the server or its model is not
        # there yet (or being replaced): the message itself is fine, so retry it later.
        if response.status_code in (400, 413, 422):
            raise ServingRequestError(message)
        raise ServingUnavailableError(message)


def open_model_client(url: str, timeout: float = 10.0) -> "ModelClient":
    """The client for `url`: gRPC for grpc://host:port/NAME[/versions/V], else REST."""
    if url.strip().startswith("grpc://"):
        from fashion_pubsub.serving.grpc_client import GrpcServingClient

        return GrpcServingClient(url, timeout)
    return ServingClient(url, timeout)


def _parse_v2(response: httpx.Response, count: int) -> Prediction:
    body = response.content
    length = response.headers.get(_HEADER)
    try:
        header = orjson.loads(body[: int(length)] if length else body)
        output = next(o for o in header["outputs"] if o["name"] == _OUTPUT)
        if "data" in output:
            values = np.asarray(output["data"], dtype=np.float32)
        else:
            offset = int(length or 0)
            for other in header["outputs"]:
                if other is output:
                    break
                offset += int((other.get("parameters") or {}).get("binary_data_size", 0))
            size = int(output["parameters"]["binary_data_size"])
            values = np.frombuffer(body[offset : offset + size], dtype=np.float32)
        probabilities = values.reshape(output["shape"])
        version = str(header.get("model_version", ""))
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ServingUnavailableError(
            f"{response.request.url} answered a V2 response that cannot be read: {exc!r}"
        ) from exc
    return Prediction(_checked(probabilities, count, str(response.request.url)), version)


def _checked(probabilities: np.ndarray, count: int, url: str) -> np.ndarray:
    if probabilities.shape != (count, 10):
        raise ServingUnavailableError(
            f"{url} answered shape {list(probabilities.shape)} for "
            f"{count} images; expected [{count}, 10]"
        )
    return probabilities


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text[:200]))
    except (ValueError, AttributeError):
        return response.text[:200]
