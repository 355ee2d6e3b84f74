"""The pipeline's client against a running server: binary V2 by default, TF predict
JSON against a server without V2, and errors that say retry or give up."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fashion_pubsub.serving.client import ServingClient
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError
from tests.conftest import free_port
from tests.support.serving import (
    MODEL,
    expected_probabilities,
    serve_in_thread,
    server_settings,
    uvicorn_in_thread,
)


@pytest.fixture
def server_url(model_base: Path) -> Iterator[str]:
    with serve_in_thread(server_settings(model_base)) as url:
        yield url


def _images(count: int) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def test_classifies_a_uint8_batch_over_binary_v2(server_url: str) -> None:
    images = _images(32)
    with ServingClient(f"{server_url}/v1/models/{MODEL}:predict") as client:
        prediction = client.classify(images)
        assert client.infer_url == f"{server_url}/v2/models/{MODEL}/infer"
    assert prediction.model_version == "1"
    np.testing.assert_allclose(
        prediction.probabilities, expected_probabilities(1, images), atol=1e-5
    )


def test_a_version_in_the_url_is_kept(server_url: str) -> None:
    with ServingClient(f"{server_url}/v1/models/{MODEL}/versions/1:predict") as client:
        assert client.infer_url.endswith(f"/v2/models/{MODEL}/versions/1/infer")
        assert client.classify(_images(1)).model_version == "1"


def test_falls_back_to_tf_predict_json_when_the_server_has_no_v2(server_url: str) -> None:
    """A real tensorflow_model_server answers only /v1: hide /v2 of ours behind a proxy."""
    upstream = httpx.Client(base_url=server_url)

    async def only_v1(request: Request) -> Response:
        if not request.url.path.startswith("/v1/"):
            return Response(b'{"error": "Malformed request"}', 404)
        answer = upstream.request(request.method, request.url.path, content=await request.body())
        return Response(
            answer.content, answer.status_code, media_type=answer.headers.get("content-type")
        )

    proxy = Starlette(routes=[Route("/{path:path}", only_v1, methods=["GET", "POST"])])
    images = _images(5)
    with (
        _serve(proxy) as proxy_url,
        ServingClient(f"{proxy_url}/v1/models/{MODEL}:predict") as client,
    ):
        prediction = client.classify(images)
    upstream.close()
    assert prediction.model_version == "1"
    np.testing.assert_allclose(
        prediction.probabilities, expected_probabilities(1, images), atol=1e-5
    )


def test_bad_batch_is_a_request_error(server_url: str) -> None:
    with ServingClient(f"{server_url}/v1/models/{MODEL}:predict") as client:
        with pytest.raises(ServingRequestError, match="shape"):
            client.classify(np.zeros((2, 27, 28), dtype=np.uint8))


def test_unknown_model_and_dead_server_are_retryable(server_url: str) -> None:
    with ServingClient(f"{server_url}/v1/models/nope:predict") as client:
        with pytest.raises(ServingUnavailableError, match="404"):
            client.classify(_images(1))
    with ServingClient(
        f"http://127.0.0.1:{free_port()}/v1/models/{MODEL}:predict", timeout=2
    ) as client:
        with pytest.raises(ServingUnavailableError, match="cannot be reached"):
            client.classify(_images(1))


def test_a_url_that_is_not_a_predict_url_is_refused() -> None:
    with pytest.raises(ServingRequestError, match="predict URL"):
        ServingClient("http://127.0.0.1:8501/v1/models/x")


def _serve(app: Starlette) -> contextlib.AbstractContextManager[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off"
    )
    return uvicorn_in_thread(config)
