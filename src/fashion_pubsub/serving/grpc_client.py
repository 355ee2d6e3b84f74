"""A gRPC client for the pipeline: classify uint8 image batches with the Open Inference
Protocol's ModelInfer, the pixels in raw_input_contents (no per-value encoding).

The URL is `grpc://host:port/NAME[/versions/V]`. Errors tell the caller what to do, as
the REST client's do: ServingUnavailableError (back off and retry: the server is down,
overloaded, or has no model loaded yet) or ServingRequestError (the batch itself is bad:
dead-letter it). Answers are checked as the REST client checks them.
"""

import re
from types import TracebackType
from typing import Any, Self

import grpc
import numpy as np

from fashion_pubsub.serving.answers import checked_probabilities
from fashion_pubsub.serving.client import Prediction
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError
from fashion_pubsub.serving.protos import inference_pb2 as oip

GRPC_URL = re.compile(
    r"^grpc://(?P<target>[^/]+)/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?/?$"
)
_SERVICE = "/inference.GRPCInferenceService"
_OUTPUT = "probabilities"
# The batch itself is at fault: retrying it cannot help.
_REQUEST_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # over the server's message size limit
}


class GrpcServingClient:
    """Classifies batches on one model over one gRPC channel. Use as a context manager.

    Args:
        url: grpc://host:port/NAME[/versions/V].
        timeout: seconds for each call.
        max_message_bytes: largest message sent or received.
    """

    def __init__(
        self, url: str, timeout: float = 10.0, max_message_bytes: int = 64 * 1024 * 1024
    ) -> None:
        match = GRPC_URL.match(url.strip())
        if match is None:
            raise ServingRequestError(
                f"{url!r} is not a gRPC model URL; expected grpc://host:port/NAME[/versions/V]"
            )
        self.target, self.name, self.version = match["target"], match["name"], match["version"]
        self._timeout = timeout
        self._max_message_bytes = max_message_bytes
        self._channel: grpc.Channel | None = None
        self._infer: Any = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel, self._infer = None, None

    def connect(self) -> str:
        """Open the channel and check the server answers.

        Raises:
            ServingUnavailableError: the server does not answer (yet).
        """
        live = self._open().unary_unary(
            f"{_SERVICE}/ServerLive",
            request_serializer=oip.ServerLiveRequest.SerializeToString,
            response_deserializer=oip.ServerLiveResponse.FromString,
        )
        self._call(live, oip.ServerLiveRequest())
        return "Open Inference Protocol over gRPC, raw tensors"

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        """Probabilities for uint8 images [N,28,28] (or [N,28,28,1]); `traceparent` (W3C)
        goes as the call's metadata when given.

        Raises:
            ServingUnavailableError: retry later.
            ServingRequestError: this batch cannot succeed.
        """
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ServingRequestError(
                f"images must be a non-empty [N,28,28] batch, got shape {list(images.shape)}"
            )
        request = oip.ModelInferRequest(model_name=self.name, model_version=self.version or "")
        request.inputs.add(name="images", datatype="UINT8", shape=images.shape)
        request.outputs.add(name=_OUTPUT)
        request.raw_input_contents.append(images.tobytes())
        self._open()
        metadata = (("traceparent", traceparent),) if traceparent else None
        response = self._call(self._infer, request, metadata)
        return Prediction(self._probabilities(response, len(images)), response.model_version)

    def _open(self) -> grpc.Channel:
        if self._channel is None:
            limit = self._max_message_bytes
            self._channel = grpc.insecure_channel(
                self.target,
                options=[
                    ("grpc.max_receive_message_length", limit),
                    ("grpc.max_send_message_length", limit),
                ],
            )
            self._infer = self._channel.unary_unary(
                f"{_SERVICE}/ModelInfer",
                request_serializer=oip.ModelInferRequest.SerializeToString,
                response_deserializer=oip.ModelInferResponse.FromString,
            )
        return self._channel

    def _call(self, method: Any, request: Any, metadata: Any = None) -> Any:
        try:
            return method(request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = exc.details() if isinstance(exc, grpc.Call) else repr(exc)
            message = f"grpc://{self.target}/{self.name} answered {code.name}: {details}"
            if code in _REQUEST_CODES:
                raise ServingRequestError(message) from exc
            # UNAVAILABLE, DEADLINE_EXCEEDED, NOT_FOUND (a model or version not there
            # yet, or being replaced), INTERNAL...: the batch is fine, retry it later
            raise ServingUnavailableError(message) from exc

    def _probabilities(self, response: oip.ModelInferResponse, count: int) -> np.ndarray:
        where = f"grpc://{self.target}/{self.name}"
        names = [output.name for output in response.outputs]
        if _OUTPUT not in names or len(response.raw_output_contents) != len(names):
            raise ServingUnavailableError(
                f"{where} answered outputs {names} with {len(response.raw_output_contents)} "
                f"raw contents; expected {_OUTPUT!r} as raw FP32"
            )
        index = names.index(_OUTPUT)
        output, raw = response.outputs[index], response.raw_output_contents[index]
        shape = tuple(output.shape)
        if output.datatype != "FP32" or len(raw) != 4 * int(np.prod(shape)):
            raise ServingUnavailableError(
                f"{where} answered {output.datatype} {list(shape)} in {len(raw)} bytes; "
                "expected FP32 probabilities"
            )
        probabilities = np.frombuffer(raw, dtype=np.float32).reshape(shape)
        return checked_probabilities(probabilities, count, where)
