"""A request's W3C traceparent header names its trace in the server's log; an invalid one is
ignored and the request is served all the same."""

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from fashion_pubsub.serving.app import build_app
from tests.support.serving import MODEL, running_app, server_settings

pytestmark = pytest.mark.anyio
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
async def client(model_base: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(build_app(server_settings(model_base))) as client:
        yield client


def _predict_body() -> bytes:
    images = np.zeros((2, 28, 28, 1), dtype=np.uint8)
    return orjson.dumps({"instances": images}, option=orjson.OPT_SERIALIZE_NUMPY)


async def _predict(client: httpx.AsyncClient, traceparent: str) -> httpx.Response:
    return await client.post(
        f"/v1/models/{MODEL}:predict",
        content=_predict_body(),
        headers={"traceparent": traceparent, "Content-Type": "application/json"},
    )


async def test_the_trace_id_of_a_request_is_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="fashion_pubsub.serving.middleware"):
        response = await _predict(client, f"00-{TRACE}-00f067aa0ba902b7-01")
    assert response.status_code == 200
    served = [r for r in caplog.records if r.getMessage() == "request_served"]
    assert [r.fields["trace_id"] for r in served] == [TRACE]  # type: ignore[attr-defined]


async def test_an_invalid_traceparent_is_ignored(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="fashion_pubsub.serving.middleware"):
        response = await _predict(client, "00-not-a-trace-01")
    assert response.status_code == 200
    assert not [r for r in caplog.records if r.getMessage() == "request_served"]
