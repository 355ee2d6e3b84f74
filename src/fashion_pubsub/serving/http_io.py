"""Shared HTTP pieces of both REST protocols: JSON responses and the one body reader,
which caps the size and the time a client may take to send it."""

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from fashion_pubsub.serving.errors import (
    ClientGoneError,
    PayloadTooLargeError,
    RequestTimeoutError,
)

JSON_TYPE = "application/json"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class BodyLimits:
    """What a request body may cost the server.

    Args:
        max_bytes: largest body accepted (413 above).
        read_timeout_seconds: longest time to receive the whole body once the handler
            asks for it (408 after), so that slow or stalled clients cannot hold a
            connection and its memory forever.
    """

    max_bytes: int
    read_timeout_seconds: float


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`body` as JSON; numpy arrays are serialised by orjson without Python loops."""
    return Response(
        orjson.dumps(body, option=_DUMP_OPTIONS), status, headers=headers, media_type=JSON_TYPE
    )


def dump_json(body: Any) -> bytes:
    return orjson.dumps(body, option=_DUMP_OPTIONS)


async def read_body(request: Request, limits: BodyLimits) -> bytes:
    """The request body, refusing more than `limits.max_bytes` whether or not the client
    declared a Content-Length (chunked bodies are counted as they arrive), and giving up
    after `limits.read_timeout_seconds`.

    Raises:
        PayloadTooLargeError: the body is too large.
        RequestTimeoutError: the body did not arrive in time.
        ClientGoneError: the client hung up first (an everyday event, not a server fault).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise PayloadTooLargeError(_too_large(int(declared), limits.max_bytes))
    try:
        async with asyncio.timeout(limits.read_timeout_seconds):
            return await _read_capped(request, limits.max_bytes)
    except ClientDisconnect as exc:
        raise ClientGoneError("the client closed the connection before sending its body") from exc
    except TimeoutError as exc:
        raise RequestTimeoutError(
            f"the request body did not arrive within {limits.read_timeout_seconds:g} s; "
            "send it at once or raise --rest_api_body_timeout_seconds"
        ) from exc


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(_too_large(size, limit))
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return (
        f"request body of {size} bytes or more is over the limit of {limit} bytes; "
        "send smaller batches or raise --max_body_bytes"
    )
