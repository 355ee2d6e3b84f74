"""Test doubles for unit tests of the pipeline's logic (no server, no subprocess).

`FakeModelClient` has `ServingClient`'s interface (`connect`, `classify`, `close`, context
manager). It lives here, not in src/: only tests need it, and the demo always talks to
a real model server. The in-memory broker is `fashion_pubsub.brokers.memory`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fashion_pubsub.closing import Closeable
from fashion_pubsub.serving.client import Prediction
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError

Outcome = Exception | Prediction | None
"""One scripted answer: raise the exception, return the prediction, or None: answer normally."""


def label_of(image: np.ndarray) -> int:
    """The class the fake predicts for an image: its first pixel modulo 10."""
    return int(image.reshape(-1)[0]) % 10


def answer(images: np.ndarray, version: str = "1") -> Prediction:
    """The fake's normal answer: 0.91 for `label_of(image)`, 0.01 for every other class."""
    probabilities = np.full((len(images), 10), 0.01, dtype=np.float32)
    for row, image in enumerate(images):
        probabilities[row, label_of(image)] = 0.91
    return Prediction(probabilities, version)


@dataclass
class FakeModelClient(Closeable):
    """A scriptable model client.

    Args:
        script: answers for the next calls, one per `classify` call, consumed in order;
            after it runs out every call is answered normally.
        unavailable: while true, every call raises ServingUnavailableError (a server down).
        max_batch: a larger batch is refused with 413, as a server's body limit does.
        error_for: a batch holding an image for which this returns an exception raises
            it (a `ServingRequestError` is a 400 for a bad image).
    """

    script: list[Outcome] = field(default_factory=list)
    unavailable: bool = False
    max_batch: int | None = None
    error_for: Callable[[np.ndarray], Exception | None] | None = None
    batches: list[int] = field(default_factory=list)
    traceparents: list[str | None] = field(default_factory=list)
    connected: bool = False

    def connect(self) -> str:
        if self.unavailable:
            raise ServingUnavailableError("fake model server is down")
        self.connected = True
        return "fake"

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        """Answer as scripted; records each batch size in `batches` and its traceparent in
        `traceparents`."""
        self.batches.append(len(images))
        self.traceparents.append(traceparent)
        if self.unavailable:
            raise ServingUnavailableError("fake model server is down")
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, Prediction):
            return outcome
        if self.max_batch is not None and len(images) > self.max_batch:
            raise ServingRequestError(f"answered 413: {len(images)} images is too large")
        if self.error_for is not None:
            for image in images:
                error = self.error_for(image)
                if error is not None:
                    raise error
        return answer(images)

    def close(self) -> None:
        self.connected = False


@dataclass
class ManualClock:
    """A clock that moves only when told to, for `MemoryBroker(clock=...)` leases."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
