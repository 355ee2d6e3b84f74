"""The latest messages of the predictions and dead-letter topics, read as a bystander:
Kafka with a client that never commits (read_committed, from a little before the end);
Pub/Sub through a subscription of the dashboard's own, deleted when it stops."""

import logging
import uuid
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any

from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import KafkaSettings, PubSubSettings

logger = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class FeedMessage:
    """A message as the dashboard shows it."""

    payload: bytes
    attributes: dict[str, str]
    position: str


class Feed(ABC):
    """Keeps the latest `keep` messages of one topic.

    Args:
        topic: the topic to follow.
        keep: how many of its latest messages to keep.
    """

    def __init__(self, topic: str, keep: int) -> None:
        self.topic = topic
        self.latest: deque[FeedMessage] = deque(maxlen=keep)
        self.received = 0
        self._failing = False

    def poll(self) -> list[FeedMessage]:
        """Fetch what arrived since the last call (at most a few batches), keep the latest.
        A broker that does not answer is logged once and tried again next time."""
        try:
            fresh = self._fetch()
        except Exception as exc:  # noqa: BLE001 - a bystander: never stop the page for it
            if not self._failing:  # once per outage, not once a second
                log_event(logger, "feed_unavailable", logging.WARNING, topic=self.topic, error=exc)
            self._failing = True
            return []
        self._failing = False
        self.latest.extend(fresh)
        self.received += len(fresh)
        return fresh

    @abstractmethod
    def _fetch(self) -> list[FeedMessage]: ...

    @abstractmethod
    def close(self) -> None: ...


class KafkaFeed(Feed):
    """Follows a Kafka topic from `keep` messages before the end of each partition."""

    def __init__(self, settings: KafkaSettings, topic: str, keep: int) -> None:
        super().__init__(topic, keep)
        self._settings = settings
        self._client: Any = None

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer, TopicPartition

        if self._client is not None:
            return self._client
        client = Consumer(
            {
                **self._settings.as_librdkafka(),
                "group.id": f"fashion-dashboard-{uuid.uuid4().hex[:8]}",  # never committed
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
            }
        )
        metadata = client.list_topics(self.topic, timeout=5).topics[self.topic]
        if metadata.error is not None or not metadata.partitions:
            client.close()
            return None  # not created yet: try again next poll
        start = []
        for partition in sorted(metadata.partitions):
            low, high = client.get_watermark_offsets(
                TopicPartition(self.topic, partition), timeout=5
            )
            start.append(TopicPartition(self.topic, partition, max(low, high - self.latest.maxlen)))  # type: ignore[operator]
        client.assign(start)
        self._client = client
        return client

    def _fetch(self) -> list[FeedMessage]:
        client = self._consumer()
        if client is None:
            return []
        fresh: list[FeedMessage] = []
        while True:
            records = client.consume(num_messages=_BATCH, timeout=0.05)
            fresh += [
                FeedMessage(
                    payload=r.value() or b"",
                    attributes={k: _text(v) for k, v in r.headers() or []},
                    position=f"{r.topic()}[{r.partition()}]@{r.offset()}",
                )
                for r in records
                if r.error() is None
            ]
            if len(records) < _BATCH:
                return fresh

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class PubSubFeed(Feed):
    """Follows a Pub/Sub topic through a subscription of its own (deleted on close), so
    it takes nothing from the pipeline's subscriptions."""

    def __init__(self, settings: PubSubSettings, topic: str, keep: int) -> None:
        super().__init__(topic, keep)
        self._settings = settings
        self._client: Any = None
        self._path = ""

    def _subscriber(self) -> Any:
        from google.api_core import exceptions as gexc
        from google.cloud import pubsub_v1

        from fashion_pubsub.brokers.pubsub import transport_kwargs

        if self._client is not None:
            return self._client
        client = pubsub_v1.SubscriberClient(**transport_kwargs(self._settings, "subscriber"))
        project = self._settings.project_id
        path = client.subscription_path(project, f"{self.topic}-dashboard-{uuid.uuid4().hex[:8]}")
        try:
            client.create_subscription(
                name=path, topic=f"projects/{project}/topics/{self.topic}", timeout=10
            )
        except gexc.NotFound:
            client.close()
            return None  # the topic is not there yet: try again next poll
        self._client, self._path = client, path
        return client

    def _fetch(self) -> list[FeedMessage]:
        client = self._subscriber()
        if client is None:
            return []
        response = client.pull(subscription=self._path, max_messages=_BATCH, timeout=5, retry=None)
        received = list(response.received_messages)
        if received:
            client.acknowledge(subscription=self._path, ack_ids=[r.ack_id for r in received])
        return [
            FeedMessage(
                payload=r.message.data,
                attributes=dict(r.message.attributes),
                position=f"pubsub:{r.message.message_id}",
            )
            for r in received
        ]

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._client.delete_subscription(subscription=self._path, timeout=10)
        except Exception as exc:  # noqa: BLE001 - the emulator may be gone already
            log_event(logger, "feed_not_deleted", logging.WARNING, path=self._path, error=exc)
        self._client.close()
        self._client = None


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
