"""uvicorn, configured so that slow or idle clients cannot hold the server.

- `--rest_api_max_connections`: uvicorn's `limit_concurrency`. With that many
  connections open (or requests in progress), a new request gets 503 at once.
- `--rest_api_header_timeout_seconds`: uvicorn has no deadline for a request's
  headers (its keep-alive timer starts only after a first response, and any byte
  cancels it), so a client that connects and trickles a header line now and then
  would hold its connection forever. The protocol below closes a connection whose
  request headers are not complete that long after the connection opened or the
  previous response ended.
- `--rest_api_body_timeout_seconds` is enforced where the body is read (http_io.py),
  which answers 408.
"""

import asyncio
import logging
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import ServerSettings

logger = logging.getLogger(__name__)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers."""

    header_timeout_seconds = 30.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # A pipelined request already has its headers; only an idle connection waits
        # for the next ones.
        waits_for_headers = not self.pipeline
        super().on_response_complete()
        if waits_for_headers and not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(
            self.header_timeout_seconds, self._headers_too_slow
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            log_event(
                logger,
                "connection_closed",
                logging.INFO,
                client=f"{self.client}",
                reason=f"no complete request headers within {self.header_timeout_seconds:g} s",
            )
            self.transport.close()


def server_config(app: ASGIApp, settings: ServerSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of the REST server.

    Args:
        app: the ASGI app (build_app's).
        settings: host, port and the limits.
        overrides: further uvicorn.Config arguments (tests pass log_level and the like).
    """
    protocol = type(
        "HeaderDeadline",
        (HeaderDeadlineProtocol,),
        {"header_timeout_seconds": settings.rest_api_header_timeout_seconds},
    )
    options: dict[str, Any] = {
        "host": settings.rest_api_host,
        "port": settings.rest_api_port,
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
        "timeout_keep_alive": 30,
        "http": protocol,
        # Beyond this many open connections (or requests in progress) new requests get
        # 503 at once instead of queueing without bound.
        "limit_concurrency": settings.rest_api_max_connections,
    }
    return uvicorn.Config(app, **{**options, **overrides})
