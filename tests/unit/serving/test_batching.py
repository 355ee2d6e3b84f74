"""--enable_batching: concurrent requests merged into shared inferences still get
exactly their own rows back."""

from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest

from fashion_pubsub.serving.app import build_app
from tests.support.serving import MODEL, expected_probabilities, running_app, server_settings

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_get_their_own_rows(model_base: Path) -> None:
    settings = server_settings(
        model_base, enable_batching=True, max_batch_size=16, batch_timeout_micros=2000
    )
    rng = np.random.default_rng(5)
    batches = [rng.integers(0, 256, (int(n), 28, 28, 1)) for n in rng.integers(1, 9, 24)]
    answers: dict[int, np.ndarray] = {}

    async def send(client: httpx.AsyncClient, index: int) -> None:
        response = await client.post(
            f"/v1/models/{MODEL}:predict", json={"instances": batches[index].tolist()}
        )
        assert response.status_code == 200
        answers[index] = np.asarray(response.json()["predictions"])

    async with running_app(build_app(settings)) as client:
        async with anyio.create_task_group() as group:
            for index in range(len(batches)):
                group.start_soon(send, client, index)
        bad = await client.post(f"/v1/models/{MODEL}:predict", json={"instances": [[[[300]]]]})
        assert bad.status_code == 400
    for index, images in enumerate(batches):
        np.testing.assert_allclose(answers[index], expected_probabilities(1, images), atol=1e-5)
