"""What both brokers can do: the interface the pipeline is written against.

Delivery is at-least-once: a consumer hands out messages, the caller processes
them, writes the results, and only then calls `ack`. Anything not acknowledged
is delivered again (after `nack`, a restart, or an expired ack deadline).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fashion_pubsub.brokers.errors import PublishError
from fashion_pubsub.closing import Closeable

ReleaseCallback = Callable[[], None]
"""Called by a consumer before it gives up messages it handed out (see `Consumer.on_release`)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to publish.

    Args:
        key: ordering/partitioning key (Kafka message key; Pub/Sub attribute `key`).
        payload: the message body.
        attributes: string metadata (Kafka headers, Pub/Sub attributes).
    """

    key: str
    payload: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    """The broker's answer for one published message: an id on success, else the error
    (whose `retriable` says whether publishing it again can succeed)."""

    message: OutgoingMessage
    message_id: str | None = None
    error: PublishError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Message:
    """A received message.

    Args:
        payload: the message body.
        attributes: string metadata.
        key: the key it was published with, if any.
        delivery_attempt: 1 the first time; higher when the broker redelivers it
            (as far as the broker can tell).
        position: where it came from, for logs ("topic[partition]@offset" or a Pub/Sub id).
            Stable across redeliveries of the same message.
        handle: the broker's own object needed to acknowledge it; opaque to callers.
        defect: why the broker's record could not become a proper message (a Kafka header
            that is not UTF-8, repeated or empty), or None. `attributes` then holds a
            readable rendering, and the message is to be dead-lettered with this reason.
    """

    payload: bytes
    attributes: Mapping[str, str]
    key: str | None
    delivery_attempt: int
    position: str
    handle: Any = field(repr=False, compare=False)
    defect: str | None = None


class Publisher(Closeable):
    """Publishes batches to one topic and reports what the broker confirmed."""

    @abstractmethod
    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        """Send all messages, then wait until each is confirmed or failed.

        Sending starts while `messages` is still yielding (each message at once, or in
        small chunks), so a caller that builds them one by one (reading files, say)
        overlaps that work with the sending.
        Returns one result per message, in order. Never raises for a single
        message's failure: it is reported in its result.
        """

    def connect(self) -> None:
        """Reach the broker now, so the first batch does not wait for the connection and
        the topic's metadata (on Kafka 50-540 ms right after start, measured). Never
        raises: a broker that does not answer yet is logged, and `publish` reports it."""

    @abstractmethod
    def close(self) -> None:
        """Deliver what is still buffered and release the client."""


class Consumer(Closeable):
    """Receives batches from the input subscription (Pub/Sub) or consumer group (Kafka)."""

    @abstractmethod
    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        """Return up to `max_messages`, waiting at most `timeout` seconds (may be empty).

        Returns as soon as there is at least one message, with those already waiting:
        it never waits for the batch to fill (adaptive batching: a quiet pipeline handles
        each message at once, a busy one finds more waiting each time).
        """

    @abstractmethod
    def ack(self, messages: Sequence[Message]) -> None:
        """Mark messages as processed; they will not be delivered again."""

    @abstractmethod
    def nack(self, messages: Sequence[Message]) -> None:
        """Give messages back for redelivery as soon as possible."""

    @abstractmethod
    def extend(self, messages: Sequence[Message]) -> None:
        """Keep holding `messages` a while longer without them counting as a new delivery
        attempt; call it at least every few seconds while holding them (Pub/Sub: push
        their ack deadline out; Kafka: pause the partitions and stay in the group). The
        next `receive` resumes normal delivery."""

    def on_release(self, callback: ReleaseCallback) -> None:
        """Have `callback` run (inside `receive` or `extend`) before the consumer gives up
        messages it handed out, as Kafka does when a rebalance revokes partitions: the
        caller finishes and acknowledges what it is still writing, then the consumer
        commits. Pub/Sub never calls it: its leases simply expire.

        Args:
            callback: runs on the thread that called `receive` or `extend`.
        """
        self._release_callback = callback

    def _released(self) -> None:
        """For implementations: run the release callback, if one was set."""
        callback: ReleaseCallback | None = getattr(self, "_release_callback", None)
        if callback is not None:
            callback()

    @abstractmethod
    def close(self) -> None:
        """Leave the group/subscription cleanly; unacknowledged messages are redelivered."""


@dataclass(frozen=True)
class PartitionLag:
    """Messages of one partition that the consumer group has not committed yet."""

    topic: str
    partition: int
    group: str
    messages: int


class LagReader(ABC):
    """Reads the input topic's consumer lag, for the subscriber's metrics."""

    @abstractmethod
    def read(self) -> list[PartitionLag]:
        """The lag of every partition now; empty when the broker cannot say.

        Raises:
            BrokerError: the broker did not answer.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the client, if any."""


class _NoLag(LagReader):
    def read(self) -> list[PartitionLag]:
        return []

    def close(self) -> None:
        """Nothing to release."""


class Broker(ABC):
    """Factory for publishers and consumers of one broker, plus topic administration."""

    name: str

    @abstractmethod
    def ensure_topics(self) -> None:
        """Create the input, predictions and dead-letter topics and the input
        subscription/consumer setup if missing. Idempotent; no fixed sleeps."""

    @abstractmethod
    def delete_topics(self) -> None:
        """Delete what `ensure_topics` creates, and the consumer group: for a run's own
        temporary topics. Missing ones are fine; their messages are gone afterwards."""

    @abstractmethod
    def publisher(self, topic: str) -> Publisher:
        """A publisher for `topic`."""

    @abstractmethod
    def consumer(self) -> Consumer:
        """A consumer of the input topic, sharing work with other consumers of the same
        group (Kafka) or subscription (Pub/Sub)."""

    def lag_reader(self) -> LagReader:
        """A reader of the input topic's consumer lag. Pub/Sub has no partitions and its
        emulator no backlog figure, so by default there is none."""
        return _NoLag()
