"""Broker and model-server clients that report to the process's metrics and health as
they are used: readiness from each call's outcome, predict latency, batch size and the
model version from each answer. They wrap the real clients; the pipeline sees the same
interfaces."""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import numpy as np

from fashion_pubsub.brokers.base import (
    Consumer,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
    ReleaseCallback,
)
from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.closing import Closeable
from fashion_pubsub.observability.health import Health
from fashion_pubsub.observability.metrics import SubscriberMetrics
from fashion_pubsub.serving.client import Prediction
from fashion_pubsub.serving.errors import ServingUnavailableError
from fashion_pubsub.serving.model_client import ModelClient

BROKER = "broker"
MODEL_SERVER = "model_server"
T = TypeVar("T")


@contextmanager
def _reporting(health: Health, component: str, failure: type[Exception]) -> Iterator[None]:
    """Report `component` unready when the block raises `failure`, ready when it returns."""
    try:
        yield
    except failure:
        health.report(component, False)
        raise
    health.report(component, True)


class _Reporting(Generic[T]):
    """A wrapper: the real client, and where readiness is reported."""

    def __init__(self, inner: T, health: Health) -> None:
        self._inner = inner
        self._health = health


class MeasuredModelClient(Closeable):
    """A model client (REST or gRPC) that times each predict and reports whether the
    server answered.

    Args:
        client: the real client (closed with this one).
        metrics: the subscriber's metrics.
        health: where `model_server` readiness is reported.
    """

    def __init__(self, client: ModelClient, metrics: SubscriberMetrics, health: Health) -> None:
        self._client = client
        self._metrics = metrics
        self._health = health
        self._model = str(getattr(client, "name", ""))

    def close(self) -> None:
        self._client.close()

    def connect(self) -> str:
        with _reporting(self._health, MODEL_SERVER, ServingUnavailableError):
            return self._client.connect()

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        with _reporting(self._health, MODEL_SERVER, ServingUnavailableError):
            prediction = self._client.classify(images, traceparent)
        self._metrics.batch(len(images))
        self._metrics.model_in_use(self._model, prediction.model_version)
        return prediction


class HealthReportingConsumer(_Reporting[Consumer], Consumer):
    """A Consumer whose receives report `broker` readiness.

    Args:
        inner: the broker's consumer.
        health: where readiness is reported.
    """

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        with _reporting(self._health, BROKER, BrokerError):
            return self._inner.receive(max_messages, timeout)

    def ack(self, messages: Sequence[Message]) -> None:
        self._inner.ack(messages)

    def nack(self, messages: Sequence[Message]) -> None:
        self._inner.nack(messages)

    def extend(self, messages: Sequence[Message]) -> None:
        self._inner.extend(messages)

    def on_release(self, callback: ReleaseCallback) -> None:
        self._inner.on_release(callback)  # the real consumer is the one that releases

    def close(self) -> None:
        self._inner.close()


class HealthReportingPublisher(_Reporting[Publisher], Publisher):
    """A Publisher that reports `broker` readiness: ready while some message of each
    batch is confirmed.

    Args:
        inner: the broker's publisher.
        health: where readiness is reported.
    """

    def connect(self) -> None:
        self._inner.connect()

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        results = self._inner.publish(messages)
        if results:
            self._health.report(BROKER, any(r.ok for r in results))
        return results

    def close(self) -> None:
        self._inner.close()
