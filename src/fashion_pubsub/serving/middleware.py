"""ASGI middleware of the REST server: counts every model request by the route's path
parameters, turns an unexpected exception into a logged 500 {"error": ...}, and logs the
trace id of a request that carries a W3C `traceparent` header (the subscriber's do)."""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fashion_pubsub.errors import TraceparentError
from fashion_pubsub.logs import log_event
from fashion_pubsub.serving.dataplane import DataPlane, ModelRef
from fashion_pubsub.serving.http_io import dump_json
from fashion_pubsub.serving.metrics import UNKNOWN_MODEL, ServerMetrics
from fashion_pubsub.tracing import parse_traceparent

logger = logging.getLogger(__name__)


class RequestMetrics:
    """Sits between Starlette's error middleware and its router, so it sees the status
    of every response, including those the per-error handlers produced.

    Only requests whose route names a model (a `name` path parameter) are counted; the
    protocol is the first part of the route's name ("tf_rest.predict" -> "tf_rest").

    Args:
        app: the rest of the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        trace_id = _trace_id(scope)

        async def send_and_watch(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:  # no request may take the server down
            log_event(
                logger,
                "request_failed",
                logging.ERROR,
                path=scope["path"],
                error=repr(exc),
                trace_id=trace_id,
            )
            if response_started:
                raise
            await _send_internal_error(send, exc)
        finally:
            seconds = time.perf_counter() - started
            _count(scope, status, seconds)
            if trace_id is not None:  # a pipeline request: one line to follow its images by
                log_event(
                    logger,
                    "request_served",
                    logging.DEBUG,
                    path=scope["path"],
                    status=status,
                    ms=round(seconds * 1000, 3),
                    trace_id=trace_id,
                )


def _trace_id(scope: Scope) -> str | None:
    """The trace id of the request's `traceparent` header; None if it has none or an
    invalid one (ignored, as W3C Trace Context says a receiver must)."""
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            try:
                return parse_traceparent(value.decode("latin-1")).trace_id
            except TraceparentError:
                return None
    return None


def _count(scope: Scope, status: int, seconds: float) -> None:
    params = scope.get("path_params", {})
    route = scope.get("route")
    if "name" not in params or route is None:
        return
    state = scope["state"]
    plane: DataPlane = state["plane"]
    metrics: ServerMetrics = state["metrics"]
    ref = ModelRef(str(params["name"]), params.get("version"), params.get("label"))
    known = ref.name in plane.repository.models
    version = plane.served_version(ref) if known else None
    metrics.observe_request(
        ref.name if known else UNKNOWN_MODEL,
        "" if version is None else str(version),
        str(getattr(route, "name", "")).partition(".")[0],
        str(status),
        seconds,
    )


async def _send_internal_error(send: Send, exc: Exception) -> None:
    body = dump_json({"error": f"internal error: {exc!r}"})
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
