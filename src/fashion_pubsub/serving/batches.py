"""The image batch every model server client accepts, checked before anything is sent."""

import numpy as np
import orjson

from fashion_pubsub.serving.errors import ServingRequestError


def image_batch(images: np.ndarray) -> np.ndarray:
    """uint8 images [N,28,28] (or [N,28,28,1]) as one contiguous uint8 array.

    Args:
        images: the caller's pixels.

    Raises:
        ServingRequestError: not a non-empty batch of images (retrying cannot help).
    """
    batch = np.ascontiguousarray(images, dtype=np.uint8)
    if batch.ndim not in (3, 4) or len(batch) == 0:
        raise ServingRequestError(
            f"images must be a non-empty [N,28,28] batch, got shape {list(batch.shape)}"
        )
    return batch


def binary_infer_header(images: np.ndarray, output: str) -> bytes:
    """The JSON header of an Open Inference Protocol request with the binary tensor data
    extension: `images` as one UINT8 input named `images` whose bytes follow the header,
    and `output` asked for in binary. Send it with the header's length in
    Inference-Header-Content-Length.

    Args:
        images: contiguous uint8 pixels (image_batch's).
        output: the output tensor's name.
    """
    return orjson.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": list(images.shape),
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": images.nbytes},
                }
            ],
            "outputs": [{"name": output, "parameters": {"binary_data": True}}],
        }
    )
