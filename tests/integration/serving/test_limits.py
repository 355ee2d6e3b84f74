"""The real uvicorn server under slow and greedy clients: a connection limit, and
deadlines for a request's headers and body, so that idle clients cannot hold it."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fashion_pubsub.serving.app import build_app
from fashion_pubsub.serving.http_server import server_config
from tests.conftest import free_port
from tests.support.serving import MODEL, server_settings

# Generous bounds for the tests' own waits, never asserted as speeds.
PATIENCE = 30.0


@contextlib.contextmanager
def _serving(base: Path, **limits: Any) -> Iterator[tuple[str, int]]:
    """The server as `serve` configures it, in a thread; yields (host, port)."""
    port = free_port()
    settings = server_settings(base, rest_api_port=port, **limits)
    server = uvicorn.Server(server_config(build_app(settings), settings))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)


def _connect(address: tuple[str, int]) -> socket.socket:
    connection = socket.create_connection(address, timeout=PATIENCE)
    return connection


def _read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_connections_over_the_limit_get_503_until_others_close(model_base: Path) -> None:
    with _serving(model_base, rest_api_max_connections=3) as address:
        url = f"http://{address[0]}:{address[1]}/v2/health/live"
        idle = [_connect(address) for _ in range(3)]
        try:
            refused = httpx.get(url, timeout=PATIENCE)
            assert refused.status_code == 503
        finally:
            for connection in idle:
                connection.close()
        deadline = time.monotonic() + PATIENCE
        while (status := httpx.get(url, timeout=PATIENCE).status_code) == 503:
            assert time.monotonic() < deadline, "the closed connections were never released"
            time.sleep(0.05)
        assert status == 200


def test_a_client_that_never_finishes_its_headers_is_disconnected(model_base: Path) -> None:
    with _serving(model_base, rest_api_header_timeout_seconds=0.3) as address:
        with _connect(address) as slow:
            slow.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
            # before the fix this waited forever (here: until the socket's own timeout)
            assert _read_all(slow) == b""
        assert httpx.get(f"http://{address[0]}:{address[1]}/v2/health/live").status_code == 200


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closes(model_base: Path) -> None:
    with _serving(model_base, rest_api_body_timeout_seconds=0.3) as address:
        with _connect(address) as slow:
            slow.sendall(
                f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                + b'{"instances": ['
            )
            answer = _read_all(slow)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"did not arrive" in answer


def test_keep_alive_requests_are_not_cut_by_the_header_deadline(model_base: Path) -> None:
    """The deadline restarts after each response, and stops once headers are in."""
    with _serving(
        model_base, rest_api_header_timeout_seconds=0.5, rest_api_body_timeout_seconds=0.5
    ) as address:
        url = f"http://{address[0]}:{address[1]}"
        with httpx.Client(base_url=url, timeout=PATIENCE) as client:
            for _ in range(5):
                response = client.post(
                    f"/v1/models/{MODEL}:predict",
                    json={"instances": [[[0] * 28] * 28] * 64},
                )
                assert response.status_code == 200


def test_a_client_that_hangs_up_mid_body_is_counted_not_logged_as_a_failure(
    model_base: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _serving(model_base) as address:
        with _connect(address) as leaving:
            leaving.sendall(
                f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n".encode()
                + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                + b'{"instances": ['
            )
        url = f"http://{address[0]}:{address[1]}/monitoring/prometheus/metrics"
        deadline = time.monotonic() + PATIENCE
        while 'status="499"' not in (metrics := httpx.get(url).text):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.05)
    assert "request_failed" not in caplog.text
