"""The ASGI app: both protocols' routes, one exception handler per error class
({"error": ...} bodies), request metrics, body limits, and the model repository,
loaded and polled in the app's lifespan."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ExceptionHandler

from fashion_pubsub.logs import log_event
from fashion_pubsub.serving import oip_rest, tf_rest
from fashion_pubsub.serving.dataplane import DataPlane
from fashion_pubsub.serving.errors import (
    ClientGoneError,
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    PayloadTooLargeError,
    RequestTimeoutError,
    ServingError,
)
from fashion_pubsub.serving.fast_json import InstancesParser
from fashion_pubsub.serving.http_io import BodyLimits, json_response
from fashion_pubsub.serving.metrics import ServerMetrics
from fashion_pubsub.serving.middleware import RequestMetrics
from fashion_pubsub.serving.model_config import model_configs
from fashion_pubsub.serving.repository import ModelRepository
from fashion_pubsub.serving.runtime import OnnxModel
from fashion_pubsub.settings import ServerSettings

logger = logging.getLogger(__name__)

# One table from error class to HTTP status (TF Serving's codes); bodies are always
# {"error": "..."}. Each class is registered as its own exception handler.
STATUS_BY_ERROR: dict[type[ServingError], int] = {
    InvalidInputError: 400,
    ModelNotFoundError: 404,
    RequestTimeoutError: 408,
    PayloadTooLargeError: 413,
    # nginx's "client closed request": no one reads it, but metrics count it apart
    ClientGoneError: 499,
    ModelNotReadyError: 503,
}


def build_app(settings: ServerSettings) -> Starlette:
    """The model server for `settings`; models load in the app's lifespan, before the
    server accepts its first request."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        metrics = ServerMetrics.create()
        repository = ModelRepository(
            model_configs(settings),
            loader=lambda folder, version: _load(folder, version, settings),
            on_change=lambda repo: metrics.record_versions(
                {name: sorted(m.versions) for name, m in repo.models.items()}
            ),
        )
        plane = DataPlane(
            repository,
            on_batch=lambda name, _version, size: metrics.batch_size.labels(name).observe(size),
            threads=settings.rest_api_num_threads,
            batching=(settings.max_batch_size, settings.batch_timeout_micros / 1e6)
            if settings.enable_batching
            else None,
        )
        await repository.poll()
        # Everything alive now (modules, sessions) lives as long as the server: moving it
        # out of the collector's sight makes each collection cheap (measured: ~1/3 of
        # the CPU time of a batch-1 JSON request went to collections before).
        gc.collect()
        gc.freeze()
        log_event(logger, "serving", models=",".join(repository.models), ready=repository.ready)
        task = asyncio.create_task(_poll_forever(repository, settings))
        grpc_server = await _start_grpc(settings, plane, metrics)
        try:
            yield {
                "plane": plane,
                "metrics": metrics,
                "body_limits": BodyLimits(
                    settings.max_body_bytes, settings.rest_api_body_timeout_seconds
                ),
                "instances_parser": InstancesParser(),
            }
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = Starlette(
        routes=[
            *tf_rest.routes(),
            *oip_rest.routes(),
            Route("/monitoring/prometheus/metrics", _prometheus, methods=["GET"]),
        ],
        exception_handlers=_exception_handlers(),
        middleware=[Middleware(RequestMetrics)],
        lifespan=lifespan,
    )
    # TF Serving answers 404 for "/v1/models/m/", not a redirect to "/v1/models/m".
    app.router.redirect_slashes = False
    return app


def _exception_handlers() -> dict[Any, ExceptionHandler]:
    handlers: dict[Any, ExceptionHandler] = dict.fromkeys(STATUS_BY_ERROR, _serving_error)
    handlers[404] = _not_found
    handlers[405] = _not_allowed
    return handlers


async def _serving_error(request: Request, exc: Exception) -> Response:
    status = next((STATUS_BY_ERROR[c] for c in type(exc).__mro__ if c in STATUS_BY_ERROR), 500)
    # A body that was cut off is still on the wire: close rather than parse it as the
    # next request.
    headers = {"Connection": "close"} if status == 408 else None
    return json_response({"error": str(exc)}, status, headers)


async def _start_grpc(settings: ServerSettings, plane: DataPlane, metrics: ServerMetrics) -> Any:
    """gRPC on --port (0: none), on this event loop, sharing the plane and metrics."""
    if not settings.grpc_port:
        return None
    from fashion_pubsub.serving.grpc_api.server import start_grpc_server

    return await start_grpc_server(settings, plane, metrics)


def _load(folder: Any, version: int, settings: ServerSettings) -> OnnxModel:
    try:
        model = OnnxModel(folder, version, settings.tensorflow_intra_op_parallelism)
        model.warm_up()
    except ModelLoadError:
        raise
    except Exception as exc:  # odd metadata etc.: refuse the version, keep serving
        raise ModelLoadError(f"{folder} cannot be served ({exc!r}); re-export it") from exc
    return model


async def _prometheus(request: Request) -> Response:
    metrics: ServerMetrics = request.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response({"error": f"no such resource: {request.url.path}"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return json_response({"error": f"{request.method} is not allowed on {request.url.path}"}, 405)


async def _poll_forever(repository: ModelRepository, settings: ServerSettings) -> None:
    """Poll every --file_system_poll_wait_seconds; 0 means the start-up scan only, as in
    TF Serving."""
    wait = settings.file_system_poll_wait_seconds
    if wait <= 0:
        return
    while True:
        await asyncio.sleep(wait)
        try:
            await repository.poll()
        except Exception as exc:  # a bad scan must not end polling for good
            log_event(logger, "poll_failed", logging.ERROR, error=repr(exc))


def serve(settings: ServerSettings) -> None:
    """Run the server with uvicorn until interrupted (uvloop and httptools when present)."""
    import uvicorn

    from fashion_pubsub.serving.http_server import server_config

    # A JSON request allocates ~1,000 short-lived lists that reference counting frees
    # anyway; a larger first generation stops the collector running every request.
    gc.set_threshold(50_000, 20, 20)
    log_event(logger, "listening", host=settings.rest_api_host, port=settings.rest_api_port)
    uvicorn.Server(server_config(build_app(settings), settings)).run()
