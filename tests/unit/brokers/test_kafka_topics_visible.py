"""Topics that `ensure_topics` created are topics a client can list when it returns."""

import logging
import time
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from fashion_pubsub.brokers import kafka as kafka_module
from fashion_pubsub.brokers.kafka import KafkaBroker
from fashion_pubsub.brokers.kafka_topics import Replication, await_visible
from fashion_pubsub.settings import KafkaSettings, TopicSettings


class LaggingAdmin:
    """A cluster whose metadata shows a new topic only `lag_seconds` after its creation,
    as a KRaft broker's does once its controller has the topic; `fail_listings` listings
    fail first."""

    def __init__(self, lag_seconds: float, fail_listings: int = 0) -> None:
        self.lag_seconds = lag_seconds
        self.fail_listings = fail_listings
        self.created: dict[str, float] = {}

    def list_topics(self, timeout: float) -> Any:
        if self.fail_listings:
            self.fail_listings -= 1
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        now = time.monotonic()
        partitions = {0: object(), 1: object()}
        return SimpleNamespace(
            topics={
                name: SimpleNamespace(error=None, partitions=partitions)
                for name, at in self.created.items()
                if now - at >= self.lag_seconds
            }
        )

    def create_topics(self, topics: list[Any], operation_timeout: float) -> dict[str, Future[None]]:
        answers: dict[str, Future[None]] = {}
        for topic in topics:
            self.created[topic.topic] = time.monotonic()
            answers[topic.topic] = Future()
            answers[topic.topic].set_result(None)
        return answers

    def poll(self, timeout: float) -> int:
        return 0


def test_ensured_topics_are_listed_when_it_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = LaggingAdmin(lag_seconds=0.3)
    broker = KafkaBroker(KafkaSettings(), TopicSettings())
    monkeypatch.setattr(broker, "_admin_client", lambda: admin)
    monkeypatch.setattr(kafka_module, "plan_replication", lambda *_: Replication(1))
    broker.ensure_topics()
    listed = admin.list_topics(timeout=1).topics
    assert set(TopicSettings().topic_names) <= set(listed)


def test_topics_that_never_show_are_a_warning_after_the_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = LaggingAdmin(lag_seconds=3600, fail_listings=1)
    admin.create_topics([SimpleNamespace(topic="input-topic")], operation_timeout=1)
    ticks = iter(range(100))
    caplog.set_level(logging.WARNING, logger="fashion_pubsub")
    await_visible(admin, ["input-topic"], patience_seconds=3, clock=lambda: float(next(ticks)))
    assert next(ticks) <= 6, "it stopped looking once the patience was over"
    assert [r.getMessage() for r in caplog.records] == ["topics_not_listed_yet"]
