"""Topics that `ensure_topics` created are topics a client can list when it returns, and
topics that `delete_topics` deleted are gone from the listing."""

import logging
import time
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from fashion_pubsub.brokers import kafka as kafka_module
from fashion_pubsub.brokers.kafka import KafkaBroker
from fashion_pubsub.brokers.kafka_topics import Replication, await_listing
from fashion_pubsub.settings import KafkaSettings, TopicSettings


class LaggingAdmin:
    """A cluster whose metadata shows a topic's creation or deletion only `lag_seconds`
    after it, as a KRaft broker's does once its controller has made it; `fail_listings`
    listings fail first."""

    def __init__(self, lag_seconds: float, fail_listings: int = 0) -> None:
        self.lag_seconds = lag_seconds
        self.fail_listings = fail_listings
        self.created: dict[str, float] = {}
        self.deleted: dict[str, float] = {}

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
                and now - self.deleted.get(name, now) < self.lag_seconds
            }
        )

    def create_topics(self, topics: list[Any], operation_timeout: float) -> dict[str, Future[None]]:
        for topic in topics:
            self.created[topic.topic] = time.monotonic()
        return _done(topic.topic for topic in topics)

    def delete_topics(self, topics: list[str], operation_timeout: float) -> dict[str, Future[None]]:
        for topic in topics:
            self.deleted[topic] = time.monotonic()
        return _done(topics)

    def delete_consumer_groups(self, groups: list[str], request_timeout: float) -> Any:
        return _done(groups)

    def poll(self, timeout: float) -> int:
        return 0


def _done(names: Any) -> dict[str, Future[None]]:
    answers: dict[str, Future[None]] = {}
    for name in names:
        answers[name] = Future()
        answers[name].set_result(None)
    return answers


def test_ensured_topics_are_listed_when_it_returns_and_deleted_ones_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = LaggingAdmin(lag_seconds=0.3)
    broker = KafkaBroker(KafkaSettings(), TopicSettings())
    monkeypatch.setattr(broker, "_admin_client", lambda: admin)
    monkeypatch.setattr(kafka_module, "plan_replication", lambda *_: Replication(1))
    names = set(TopicSettings().topic_names)
    broker.ensure_topics()
    assert names <= set(admin.list_topics(timeout=1).topics)
    broker.delete_topics()
    assert not names & set(admin.list_topics(timeout=1).topics)


def test_topics_that_never_show_are_a_warning_after_the_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = LaggingAdmin(lag_seconds=3600, fail_listings=1)
    admin.create_topics([SimpleNamespace(topic="input-topic")], operation_timeout=1)
    ticks = iter(range(100))

    def clock() -> float:
        return float(next(ticks))

    caplog.set_level(logging.WARNING, logger="fashion_pubsub")
    await_listing(admin, ["input-topic"], listed=True, patience_seconds=3, clock=clock)
    assert next(ticks) <= 6, "it stopped looking once the patience was over"
    assert [r.getMessage() for r in caplog.records] == ["topics_not_listed_yet"]
