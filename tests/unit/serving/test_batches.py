"""The request pieces every model server client shares: a checked image batch, and the
binary Open Inference Protocol header that our server answers."""

import httpx
import numpy as np
import pytest

from fashion_pubsub.serving.batches import binary_infer_header, image_batch
from fashion_pubsub.serving.errors import ServingRequestError
from tests.support.serving import MODEL, expected_probabilities

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("shape", [(0, 28, 28), (28, 28), (2, 2, 28, 28, 1)])
def test_anything_but_a_non_empty_image_batch_is_a_request_error(
    shape: tuple[int, ...],
) -> None:
    with pytest.raises(ServingRequestError, match="non-empty"):
        image_batch(np.zeros(shape, np.uint8))


async def test_the_binary_header_and_pixels_are_answered_in_binary(
    client: httpx.AsyncClient,
) -> None:
    images = image_batch(np.random.default_rng(3).integers(0, 256, (4, 28, 28)))
    header = binary_infer_header(images, "probabilities")
    response = await client.post(
        f"/v2/models/{MODEL}/infer",
        content=header + images.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["Inference-Header-Content-Length"])
    probabilities = np.frombuffer(response.content[length:], np.float32).reshape(4, 10)
    np.testing.assert_allclose(probabilities, expected_probabilities(1, images), atol=1e-5)
