"""The image batch every model server client accepts, checked before anything is sent."""

import numpy as np

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
