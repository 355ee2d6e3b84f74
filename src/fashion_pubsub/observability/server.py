"""The metrics endpoint of `publish` and `subscribe`: `/metrics` (Prometheus text format),
`/healthz` (the process answers) and `/readyz` (its broker and model server answer).

A small threaded stdlib HTTP server in the background: prometheus_client's own
`start_http_server` serves the metrics on every path and has no health endpoints.
"""

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from fashion_pubsub.closing import Closeable
from fashion_pubsub.logs import log_event
from fashion_pubsub.observability.errors import MetricsPortError
from fashion_pubsub.observability.health import Health

logger = logging.getLogger(__name__)


class MetricsServer(Closeable):
    """Serves one registry and one Health on host:port in a daemon thread.

    Args:
        host: the address to listen on (127.0.0.1 unless scraped from elsewhere).
        port: the port; 0 disables the server.
        registry: the metrics to serve.
        health: what `/readyz` reports.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        self._address = (host, port)
        self._registry = registry
        self._health = health
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str | None:
        """Where the metrics are, once started; None when disabled."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def __enter__(self) -> Self:
        self.start()
        return self

    def start(self) -> None:
        """Listen and serve in the background; nothing when the port is 0.

        Raises:
            MetricsPortError: the port is taken or not allowed.
        """
        if self._address[1] == 0:
            return
        try:
            self._server = ThreadingHTTPServer(self._address, self._handler())
        except OSError as exc:
            host, port = self._address
            raise MetricsPortError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}); pass another "
                "--metrics-port, or 0 to turn the endpoint off"
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()
        log_event(logger, "metrics_serving", url=self.url)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry, health = self._registry, self._health

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(HTTPStatus.OK, b'{"status":"alive"}', "application/json")
                elif path == "/readyz":
                    checks = health.status()
                    ready = all(checks.values())
                    body = orjson.dumps({"ready": ready, "checks": checks})
                    status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
                    self._send(status, body, "application/json")
                else:
                    self._send(HTTPStatus.NOT_FOUND, b'{"error":"not found"}', "application/json")

            def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: a scrape every few seconds would drown the pipeline's own events."""

        return _Handler
