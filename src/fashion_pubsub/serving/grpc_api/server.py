"""The gRPC server: one grpc.aio server on the app's event loop, serving TF Serving's
PredictionService and ModelService and the Open Inference Protocol's
GRPCInferenceService under their public full names, on the REST server's data plane
and metrics. Errors map to status codes in one table."""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import DecodeError, Message

from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.logs import log_event
from fashion_pubsub.serving.dataplane import DataPlane
from fashion_pubsub.serving.errors import (
    BasePathMissingError,
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    SignatureNotFoundError,
    UnsupportedMethodError,
)
from fashion_pubsub.serving.grpc_api import oip, tf_serving
from fashion_pubsub.serving.metrics import UNKNOWN_MODEL, ServerMetrics
from fashion_pubsub.serving.model_config import config_root
from fashion_pubsub.serving.protos import inference_pb2 as oip_pb
from fashion_pubsub.serving.protos import tensorflow_serving_pb2 as tfs
from fashion_pubsub.serving.runtime import OnnxModel
from fashion_pubsub.settings import ServerSettings

logger = logging.getLogger(__name__)

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
INFERENCE_SERVICE = "inference.GRPCInferenceService"

# One table from error class to status code, as TF Serving uses them. A model with no
# loaded version yet is UNAVAILABLE (retry later), as REST answers 503.
CODE_BY_ERROR: dict[type[Exception], grpc.StatusCode] = {
    ModelNotFoundError: grpc.StatusCode.NOT_FOUND,
    InvalidInputError: grpc.StatusCode.INVALID_ARGUMENT,
    ConfigurationError: grpc.StatusCode.INVALID_ARGUMENT,
    SignatureNotFoundError: grpc.StatusCode.FAILED_PRECONDITION,
    BasePathMissingError: grpc.StatusCode.FAILED_PRECONDITION,
    ModelNotReadyError: grpc.StatusCode.UNAVAILABLE,
    UnsupportedMethodError: grpc.StatusCode.UNIMPLEMENTED,
}

Outcome = tuple[Message, OnnxModel | None]
Handler = Callable[[Any], Awaitable[Outcome]]


@dataclass(frozen=True)
class Rpc:
    """One method: how to read its request, run it, and name its model for metrics."""

    request_type: type[Message]
    handler: Handler
    protocol: str
    model_name: Callable[[Any], str]


async def start_grpc_server(
    settings: ServerSettings, plane: DataPlane, metrics: ServerMetrics
) -> grpc.aio.Server:
    """Listen on --grpc_host:--port on the running event loop.

    Args:
        settings: the server's settings (address, message size limit, config root).
        plane: the data plane shared with REST.
        metrics: the Prometheus metrics shared with REST.

    Raises:
        ConfigurationError: the address cannot be bound (for example in use).
    """
    limit = settings.grpc_max_message_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # without this a second server could bind the same port and share its traffic
            ("grpc.so_reuseport", 0),
        ]
    )
    for service, rpcs in _services(settings, plane).items():
        handlers = {method: _method_handler(rpc, plane, metrics) for method, rpc in rpcs.items()}
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, handlers)])
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigurationError(
            f"gRPC cannot listen on {address} ({exc}); pick another --port or 0 to disable"
        ) from exc
    await server.start()
    log_event(logger, "grpc_listening", host=settings.grpc_host, port=settings.grpc_port)
    return server


def _services(settings: ServerSettings, plane: DataPlane) -> dict[str, dict[str, Rpc]]:
    def tf_name(request: Any) -> str:
        return str(request.model_spec.name)

    def oip_name(request: Any) -> str:
        return str(getattr(request, "name", "") or getattr(request, "model_name", ""))

    async def predict(request: tfs.PredictRequest) -> Outcome:
        return await tf_serving.predict(plane, request)

    async def metadata(request: tfs.GetModelMetadataRequest) -> Outcome:
        return tf_serving.get_model_metadata(plane, request)

    async def status(request: tfs.GetModelStatusRequest) -> Outcome:
        return tf_serving.get_model_status(plane, request), None

    async def reload(request: tfs.ReloadConfigRequest) -> Outcome:
        return await tf_serving.reload_config(plane, request, config_root(settings)), None

    async def live(_: oip_pb.ServerLiveRequest) -> Outcome:
        return oip_pb.ServerLiveResponse(live=plane.live()), None

    async def ready(_: oip_pb.ServerReadyRequest) -> Outcome:
        return oip_pb.ServerReadyResponse(ready=plane.ready()), None

    async def server_metadata(_: oip_pb.ServerMetadataRequest) -> Outcome:
        return oip.server_metadata(plane), None

    async def model_ready(request: oip_pb.ModelReadyRequest) -> Outcome:
        return oip.model_ready(plane, request), None

    async def model_metadata(request: oip_pb.ModelMetadataRequest) -> Outcome:
        return oip.model_metadata(plane, request), None

    async def model_infer(request: oip_pb.ModelInferRequest) -> Outcome:
        return await oip.model_infer(plane, request)

    def unsupported(method: str) -> Handler:
        async def refuse(_: Any) -> Outcome:
            raise UnsupportedMethodError(
                f"{method} is not implemented: the models here have only a predict "
                f"signature ({tf_serving.SIGNATURE}); call Predict"
            )

        return refuse

    tf, v2 = "tf_grpc", "oip_grpc"
    return {
        PREDICTION_SERVICE: {
            "Predict": Rpc(tfs.PredictRequest, predict, tf, tf_name),
            "GetModelMetadata": Rpc(tfs.GetModelMetadataRequest, metadata, tf, tf_name),
            **{
                # read as Empty: any well-formed message parses, its fields kept unread
                method: Rpc(Empty, unsupported(method), tf, lambda _: "")
                for method in ("Classify", "Regress", "MultiInference")
            },
        },
        MODEL_SERVICE: {
            "GetModelStatus": Rpc(tfs.GetModelStatusRequest, status, tf, tf_name),
            "HandleReloadConfigRequest": Rpc(tfs.ReloadConfigRequest, reload, tf, lambda _: ""),
        },
        INFERENCE_SERVICE: {
            "ServerLive": Rpc(oip_pb.ServerLiveRequest, live, v2, lambda _: ""),
            "ServerReady": Rpc(oip_pb.ServerReadyRequest, ready, v2, lambda _: ""),
            "ServerMetadata": Rpc(oip_pb.ServerMetadataRequest, server_metadata, v2, oip_name),
            "ModelReady": Rpc(oip_pb.ModelReadyRequest, model_ready, v2, oip_name),
            "ModelMetadata": Rpc(oip_pb.ModelMetadataRequest, model_metadata, v2, oip_name),
            "ModelInfer": Rpc(oip_pb.ModelInferRequest, model_infer, v2, oip_name),
        },
    }


def _method_handler(rpc: Rpc, plane: DataPlane, metrics: ServerMetrics) -> grpc.RpcMethodHandler:
    """Requests arrive as bytes and are parsed here, so that a malformed message is the
    caller's INVALID_ARGUMENT rather than gRPC's INTERNAL."""

    async def call(data: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        started = time.perf_counter()
        name, model, code, details = "", None, grpc.StatusCode.OK, ""
        response: Message | None = None
        try:
            request = _parse(rpc.request_type, data)
            name = rpc.model_name(request)
            response, model = await rpc.handler(request)
        except tuple(CODE_BY_ERROR) as exc:
            code, details = _code(exc), str(exc)
        except Exception as exc:  # no request may take the server down
            log_event(logger, "grpc_request_failed", logging.ERROR, error=repr(exc))
            code, details = grpc.StatusCode.INTERNAL, f"internal error: {exc!r}"
        except BaseException:  # the client went away mid-call: count it, then let it go
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            label = name if name in plane.repository.models else UNKNOWN_MODEL
            version = str(model.version) if model is not None else ""
            seconds = time.perf_counter() - started
            metrics.observe_request(label, version, rpc.protocol, code.name, seconds)
        if response is None:
            await context.abort(code, details)
            raise AssertionError("abort() returned")  # pragma: no cover
        return bytes(response.SerializeToString())

    return grpc.unary_unary_rpc_method_handler(call)


def _parse(request_type: type[Message], data: bytes) -> Message:
    try:
        return request_type.FromString(data)
    except (DecodeError, RuntimeError) as exc:
        raise InvalidInputError(
            f"the request is not a {request_type.DESCRIPTOR.name}: {exc}"
        ) from exc


def _code(exc: Exception) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in CODE_BY_ERROR:
            return CODE_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL
