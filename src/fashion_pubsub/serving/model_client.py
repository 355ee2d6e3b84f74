"""What the pipeline needs from a model server client, whatever it speaks: REST
(client.ServingClient) or gRPC (grpc_client.GrpcServingClient)."""

from types import TracebackType
from typing import Protocol, Self

import numpy as np

from fashion_pubsub.serving.client import Prediction


class ModelClient(Protocol):
    """Classifies uint8 image batches; a context manager that closes its connections."""

    def connect(self) -> str:
        """Connect now; returns which protocol will be used."""
        ...

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        """Probabilities [N, 10] for uint8 images [N,28,28]; `traceparent` (W3C) goes
        with the request (an HTTP header, gRPC metadata) when given."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
