"""Checking a model server's answer before anything is written from it.

The server is outside our control (any TF Serving or Open Inference Protocol server may
sit behind `--url`), so its answer is untrusted like any other input: class
probabilities must be a finite float array of the batch's shape, each row a
distribution. Anything else raises ServingResponseError, which callers treat as the
server failing (back off, retry), never as a verdict on the images.
"""

import re
from typing import Any

import numpy as np

from fashion_pubsub.serving.errors import ServingResponseError

CLASSES = 10
# A softmax in float32 sums to 1 within ~1e-6; a quantised model's within ~1e-3.
_SUM_TOLERANCE = 1e-2
_VALUE_TOLERANCE = 1e-4
_VERSION = re.compile(r"[\w.\-]{0,64}")
# A body may be this large for `count` images: the fixed part and JSON numbers of up
# to ~25 characters, 10 per image, generously.
MAX_FIXED_BYTES = 64 * 1024
MAX_BYTES_PER_IMAGE = 1024


def max_answer_bytes(count: int) -> int:
    """The largest answer body accepted for a batch of `count` images."""
    return MAX_FIXED_BYTES + count * MAX_BYTES_PER_IMAGE


def checked_probabilities(values: Any, count: int, source: str) -> np.ndarray:
    """`values` as float32 probabilities [count, 10], or the reason they are not.

    Args:
        values: what the server sent (a JSON list or a numpy array).
        count: images in the request.
        source: the URL, for the message.

    Raises:
        ServingResponseError: wrong type, shape, a NaN or infinity, a value outside
            [0, 1], or a row that does not sum to 1.
    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged lists, say
        raise ServingResponseError(
            f"{source} answered probabilities that are not an array"
        ) from exc
    if array.dtype.kind not in "fiu":
        raise ServingResponseError(
            f"{source} answered probabilities of type {array.dtype}, not numbers"
        )
    if array.shape != (count, CLASSES):
        raise ServingResponseError(
            f"{source} answered shape {list(array.shape)} for {count} images; "
            f"expected [{count}, {CLASSES}]"
        )
    probabilities = array.astype(np.float32)
    if not np.isfinite(probabilities).all():
        raise ServingResponseError(f"{source} answered NaN or infinite probabilities")
    if probabilities.min() < -_VALUE_TOLERANCE or probabilities.max() > 1 + _VALUE_TOLERANCE:
        raise ServingResponseError(
            f"{source} answered probabilities outside [0, 1] "
            f"(from {probabilities.min():.4g} to {probabilities.max():.4g})"
        )
    sums = probabilities.sum(axis=1)
    if np.abs(sums - 1).max() > _SUM_TOLERANCE:
        worst = float(sums[np.abs(sums - 1).argmax()])
        raise ServingResponseError(
            f"{source} answered probabilities that do not sum to 1 (a row sums to {worst:.4g})"
        )
    return probabilities


def checked_version(value: Any, source: str) -> str:
    """The model version the server named: a short word (digits, as a rule).

    Raises:
        ServingResponseError: it is not a short string or integer of word characters.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ServingResponseError(f"{source} answered a model version that is not text")
    if isinstance(value, int) and value.bit_length() > 64:  # str() of 5,000 digits raises
        raise ServingResponseError(f"{source} answered a model version too large")
    text = str(value)
    if not _VERSION.fullmatch(text):
        raise ServingResponseError(f"{source} answered an unusable model version {text[:40]!r}")
    return text
