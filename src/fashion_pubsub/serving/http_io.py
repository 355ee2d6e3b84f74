"""Shared HTTP pieces of both protocols: JSON responses and a size-capped body reader."""

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fashion_pubsub.serving.errors import PayloadTooLargeError

JSON_TYPE = "application/json"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_response(body: Any, status: int = 200) -> Response:
    """`body` as JSON; numpy arrays are serialised by orjson without Python loops."""
    return Response(orjson.dumps(body, option=_DUMP_OPTIONS), status, media_type=JSON_TYPE)


def dump_json(body: Any) -> bytes:
    return orjson.dumps(body, option=_DUMP_OPTIONS)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes whether or not the client
    declared a Content-Length (chunked bodies are counted as they arrive)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(_too_large(int(declared), limit))
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
