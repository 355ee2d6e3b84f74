"""One kept-alive HTTP/1.1 connection to a model server, for the pipeline's predict calls.

On the standard library's `http.client`, not httpx: the subscriber makes a request per
batch, ~200 a second at 1,000 images/s (batches of a few images). Measured on this
machine, the same bare 1-image predict request took ~370 µs of client CPU through httpx,
~280 through urllib3 and ~170 through http.client; at 1,000 images/s the subscriber's
CPU fell from 35-39 % of a core to 30-32 % (docs/benchmarks.md, "The predict request's
client").

A connection the server closed while it was idle is opened again once, and the request
sent again: a predict request has no effect but its answer.
"""

import http.client
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from fashion_pubsub.serving.errors import ServingResponseError, ServingUnavailableError

# What a kept-alive connection closed by the server (idle timeout, restart) raises on
# the next request, before any answer: safe to send again on a new connection.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class Answer(NamedTuple):
    """A response whose body was read (within its limit); header names in lower case."""

    url: str
    status_code: int
    headers: Mapping[str, str]
    body: bytes


class KeepAliveConnection:
    """Requests to one `http://host:port` (or https), one at a time, over one connection.

    Args:
        base: the server's scheme, host and port, e.g. `http://127.0.0.1:8501`.
        timeout: seconds for connecting and for each read of the answer.
    """

    def __init__(self, base: str, timeout: float) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base!r} is not an http(s)://host:port address")
        self.base = base
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._used = False  # a request went over the open connection already

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self,
        method: str,
        url: str,
        limit: int,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send a request to `url`, an address on this server (`base` and a path), and
        read its answer, at most `limit` bytes of body.

        Raises:
            ServingUnavailableError: the server cannot be reached, or broke off.
            ServingResponseError: the answer's body is over `limit`.
        """
        if not url.startswith(self.base + "/"):
            raise ValueError(f"{url!r} is not on {self.base}")
        path = url[len(self.base) :]
        try:
            try:
                response = self._send(method, path, body, headers or {})
            except _STALE:
                if not self._used:
                    raise
                self.close()  # closed by the server while idle: once more, on a new one
                response = self._send(method, path, body, headers or {})
            received = {name.lower(): value for name, value in response.getheaders()}
            return Answer(url, response.status, received, self._read(response, limit, url))
        except ServingResponseError:
            self.close()  # the rest of that answer is never read: the connection is spent
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ServingUnavailableError(
                f"model server at {self.base} cannot be reached ({exc!r}); start it or fix the URL"
            ) from exc

    def _send(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> http.client.HTTPResponse:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self._timeout)
            self._used = False
        self._connection.request(method, path, body=body, headers=dict(headers))
        response = self._connection.getresponse()
        self._used = True
        return response

    @staticmethod
    def _read(response: http.client.HTTPResponse, limit: int, url: str) -> bytes:
        """The body, or ServingResponseError as soon as it is known to exceed `limit`."""
        declared = response.getheader("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ServingResponseError(f"{url} answered {declared} bytes; at most {limit} expected")
        body = response.read(limit + 1)
        if len(body) > limit:
            raise ServingResponseError(f"{url} answered over {limit} bytes; stopped reading")
        return body
