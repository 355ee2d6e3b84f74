"""Broker and model-server clients that report to the process's metrics and health as
they are used: readiness from each call's outcome, predict latency, batch size and the
model version from each answer. They wrap the real clients; the pipeline sees the same
interfaces."""

from collections.abc import Iterable, Sequence

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
        try:
            protocol = self._client.connect()
        except ServingUnavailableError:
            self._health.report(MODEL_SERVER, False)
            raise
        self._health.report(MODEL_SERVER, True)
        return protocol

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        try:
            prediction = self._client.classify(images, traceparent)
        except ServingUnavailableError:
            self._health.report(MODEL_SERVER, False)
            raise
        self._health.report(MODEL_SERVER, True)
        self._metrics.batch(len(images))
        self._metrics.model_in_use(self._model, prediction.model_version)
        return prediction


class HealthReportingConsumer(Consumer):
    """A Consumer whose receives report `broker` readiness.

    Args:
        consumer: the broker's consumer.
        health: where readiness is reported.
    """

    def __init__(self, consumer: Consumer, health: Health) -> None:
        self._consumer = consumer
        self._health = health

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        try:
            messages = self._consumer.receive(max_messages, timeout)
        except BrokerError:
            self._health.report(BROKER, False)
            raise
        self._health.report(BROKER, True)
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        self._consumer.ack(messages)

    def nack(self, messages: Sequence[Message]) -> None:
        self._consumer.nack(messages)

    def extend(self, messages: Sequence[Message]) -> None:
        self._consumer.extend(messages)

    def on_release(self, callback: ReleaseCallback) -> None:
        self._consumer.on_release(callback)  # the real consumer is the one that releases

    def close(self) -> None:
        self._consumer.close()


class HealthReportingPublisher(Publisher):
    """A Publisher that reports `broker` readiness: ready while some message of each
    batch is confirmed.

    Args:
        publisher: the broker's publisher.
        health: where readiness is reported.
    """

    def __init__(self, publisher: Publisher, health: Health) -> None:
        self._publisher = publisher
        self._health = health

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        results = self._publisher.publish(messages)
        if results:
            self._health.report(BROKER, any(r.ok for r in results))
        return results

    def close(self) -> None:
        self._publisher.close()
