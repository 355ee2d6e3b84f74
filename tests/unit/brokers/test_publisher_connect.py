"""A publisher reaches its broker when it starts (`connect`), so the first batch does not
wait for the connection and the topic's metadata; a broker that cannot answer yet is
logged, never raised."""

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from google.api_core import exceptions as gexc

from fashion_pubsub.brokers import kafka
from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.brokers.kafka import KafkaPublisher
from fashion_pubsub.brokers.limits import kafka_limits
from fashion_pubsub.brokers.pubsub import PubSubPublisher


class _Librdkafka:
    """A producer that knows one topic of `partitions` partitions (none: Kafka cannot say)
    and confirms every record at the next flush."""

    def __init__(self, partitions: int | None) -> None:
        self.partitions = partitions
        self.metadata_requests = 0
        self.produced: list[int] = []
        self._callbacks: list[Any] = []

    def list_topics(self, topic: str, timeout: float) -> Any:
        self.metadata_requests += 1
        if self.partitions is None:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        metadata = SimpleNamespace(error=None, partitions=dict.fromkeys(range(self.partitions)))
        return SimpleNamespace(topics={topic: metadata})

    def produce(self, topic: str, partition: int, on_delivery: Any, **_: Any) -> None:
        self.produced.append(partition)
        record = SimpleNamespace(topic=lambda: topic, partition=lambda: partition, offset=lambda: 0)
        self._callbacks.append(lambda: on_delivery(None, record))

    def flush(self, timeout: float) -> int:
        for confirm in self._callbacks:
            confirm()
        self._callbacks.clear()
        return 0


def _kafka_publisher(partitions: int | None) -> tuple[KafkaPublisher, _Librdkafka]:
    publisher = KafkaPublisher.__new__(KafkaPublisher)  # no client: a scripted one
    fake = _Librdkafka(partitions)
    publisher._topic, publisher._batches, publisher._partition_count = "in", 0, None
    publisher.limits = kafka_limits(1_000_000)
    publisher._producer = fake  # type: ignore[assignment]
    return publisher, fake


def _message() -> OutgoingMessage:
    return OutgoingMessage(key="k", payload=b"x", attributes={})


def test_kafka_connect_reads_the_partitions_so_the_first_publish_need_not() -> None:
    publisher, fake = _kafka_publisher(partitions=3)
    publisher.connect()
    assert fake.metadata_requests == 1
    assert [r.ok for r in publisher.publish([_message()])] == [True]
    assert fake.metadata_requests == 1
    assert fake.produced == [1]  # a partition of its own choosing, not librdkafka's (-1)


def test_kafka_connect_waits_for_a_topic_just_created_to_show_its_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publisher, fake = _kafka_publisher(partitions=0)  # in the metadata, no partitions yet
    answers = iter([0, 0, 3])

    def list_topics(topic: str, timeout: float) -> Any:
        fake.partitions = next(answers)
        return _Librdkafka.list_topics(fake, topic, timeout)

    monkeypatch.setattr(fake, "list_topics", list_topics)
    monkeypatch.setattr(kafka.time, "sleep", lambda seconds: None)
    publisher.connect()
    assert fake.metadata_requests == 3
    publisher.publish([_message() for _ in range(4)])
    assert fake.produced == [1, 1, 1, 1]  # the whole batch to one partition


def test_kafka_connect_to_a_broker_that_cannot_answer_logs_and_publish_asks_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher, fake = _kafka_publisher(partitions=None)
    with caplog.at_level(logging.WARNING):
        publisher.connect()
    assert "partitions_unknown" in caplog.text
    fake.partitions = 2  # the broker answers by the first batch
    assert [r.ok for r in publisher.publish([_message()])] == [True]
    assert fake.metadata_requests == 2 and fake.produced == [1]


class _PublisherClient:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.asked: list[str] = []

    def get_topic(self, topic: str, timeout: float, retry: Any) -> None:
        self.asked.append(topic)
        if self.error is not None:
            raise self.error


def _pubsub_publisher(error: Exception | None) -> tuple[PubSubPublisher, _PublisherClient]:
    publisher = PubSubPublisher.__new__(PubSubPublisher)  # no channel: a scripted client
    client = _PublisherClient(error)
    publisher._client, publisher._topic = client, "projects/p/topics/in"
    return publisher, client


def test_pubsub_connect_makes_a_first_call_on_the_channel() -> None:
    publisher, client = _pubsub_publisher(error=None)
    publisher.connect()
    assert client.asked == ["projects/p/topics/in"]


@pytest.mark.parametrize(
    "error", [gexc.NotFound("no topic"), gexc.ServiceUnavailable("emulator down")]
)
def test_pubsub_connect_to_a_missing_topic_or_service_logs_instead_of_raising(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    publisher, _ = _pubsub_publisher(error)
    with caplog.at_level(logging.WARNING):
        publisher.connect()
    assert "topic_unreachable" in caplog.text


def test_pubsub_connect_with_a_role_that_may_only_publish_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher, client = _pubsub_publisher(gexc.PermissionDenied("pubsub.topics.get"))
    with caplog.at_level(logging.WARNING):
        publisher.connect()
    assert client.asked and caplog.text == ""
