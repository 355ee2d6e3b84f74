"""The ASGI app: routes for both protocols, errors as {"error": ...}, metrics, a body
size limit, and the model repository, loaded and polled in the app's lifespan."""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fashion_pubsub.logs import log_event
from fashion_pubsub.serving import oip_rest, tf_rest
from fashion_pubsub.serving.dataplane import DataPlane
from fashion_pubsub.serving.errors import (
    InvalidInputError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    PayloadTooLargeError,
)
from fashion_pubsub.serving.fast_json import InstancesParser
from fashion_pubsub.serving.http_io import json_response
from fashion_pubsub.serving.metrics import ServerMetrics
from fashion_pubsub.serving.model_config import model_configs
from fashion_pubsub.serving.repository import ModelRepository
from fashion_pubsub.serving.runtime import OnnxModel
from fashion_pubsub.settings import ServerSettings

logger = logging.getLogger(__name__)

# One table from error class to HTTP status; bodies are always {"error": "..."}.
STATUS_BY_ERROR: dict[type[Exception], int] = {
    ModelNotFoundError: 404,
    InvalidInputError: 400,
    PayloadTooLargeError: 413,
    ModelNotReadyError: 503,
}

Handler = Callable[[Request, DataPlane, int], Awaitable[tuple[Response, OnnxModel | None]]]


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
                "limit": settings.max_body_bytes,
                "instances_parser": InstancesParser(),
            }
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [
        Route(
            "/v1/models/{rest:path}", _endpoint(tf_rest.handle, "tf_rest"), methods=["GET", "POST"]
        ),
        Route(
            "/v2/models/{rest:path}",
            _endpoint(oip_rest.handle, "oip_rest"),
            methods=["GET", "POST"],
        ),
        Route("/v2/health/live", _live),
        Route("/v2/health/ready", _ready),
        Route("/v2", _server),
        Route("/monitoring/prometheus/metrics", _prometheus),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_exception_handler(404, _not_found)
    app.add_exception_handler(405, _not_allowed)
    return app


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


def _endpoint(handler: Handler, protocol: str) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        started = time.perf_counter()
        plane: DataPlane = request.state.plane
        model: OnnxModel | None = None
        try:
            response, model = await handler(request, plane, request.state.limit)
        except tuple(STATUS_BY_ERROR) as exc:
            response = json_response({"error": str(exc)}, STATUS_BY_ERROR[type(exc)])
        except Exception as exc:  # no request may take the server down
            log_event(
                logger, "request failed", logging.ERROR, path=request.url.path, error=repr(exc)
            )
            response = json_response({"error": f"internal error: {exc!r}"}, 500)
        metrics: ServerMetrics = request.state.metrics
        name = _model_label(request, plane)
        version = str(model.version) if model is not None else ""
        metrics.requests.labels(name, version, protocol, str(response.status_code)).inc()
        metrics.latency.labels(name, protocol).observe(time.perf_counter() - started)
        return response

    return run


def _model_label(request: Request, plane: DataPlane) -> str:
    """The model name for metric labels; unknown names share one label so that
    random URLs cannot grow the metrics without bound."""
    name = str(request.path_params.get("rest", "")).split("/")[0].split(":")[0]
    return name if name in plane.repository.models else "_unknown"


async def _prometheus(request: Request) -> Response:
    metrics: ServerMetrics = request.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _live(_: Request) -> Response:
    return json_response({"live": True})


async def _ready(request: Request) -> Response:
    ready = request.state.plane.repository.ready
    return json_response({"ready": ready}, 200 if ready else 503)


async def _server(_: Request) -> Response:
    return json_response(oip_rest.server_metadata())


async def _not_found(request: Request, exc: Any) -> Response:
    return json_response({"error": f"no such resource: {request.url.path}"}, 404)


async def _not_allowed(request: Request, exc: Any) -> Response:
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
            log_event(logger, "poll failed", logging.ERROR, error=repr(exc))


def serve(settings: ServerSettings) -> None:
    """Run the server with uvicorn until interrupted (uvloop and httptools when present)."""
    import uvicorn

    # A JSON request allocates ~1,000 short-lived lists that reference counting frees
    # anyway; a larger first generation stops the collector running every request.
    gc.set_threshold(50_000, 20, 20)
    log_event(logger, "listening", host=settings.rest_api_host, port=settings.rest_api_port)
    uvicorn.run(
        build_app(settings),
        host=settings.rest_api_host,
        port=settings.rest_api_port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_keep_alive=30,
    )
