"""Apache Kafka on confluent-kafka: topics with several partitions, batched idempotent
publishing, and consumer-group reading with commits of processed offsets only."""

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from confluent_kafka import Consumer as _Consumer
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as _KafkaMessage
from confluent_kafka import Producer as _Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from fashion_pubsub.brokers.base import (
    Broker,
    Consumer,
    LagReader,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
)
from fashion_pubsub.brokers.errors import (
    BrokerError,
    BrokerUnavailableError,
    MessageTooLargeError,
    PublishError,
)
from fashion_pubsub.brokers.kafka_logs import RepeatFilter, client_log_config
from fashion_pubsub.brokers.kafka_offsets import PartitionOffsets
from fashion_pubsub.brokers.kafka_topics import await_listing, has_partitions, plan_replication
from fashion_pubsub.brokers.limits import MessageLimits, check, kafka_limits
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import KafkaSettings, TopicSettings

logger = logging.getLogger(__name__)

_DELIVERY_TIMEOUT_MS = 30_000
_ANY_PARTITION = -1  # librdkafka's RD_KAFKA_PARTITION_UA
# How long `connect` waits for a topic's partitions to show in the metadata, asking again
# this often: a topic is there moments after its creation, a missing one never is.
_CONNECT_PATIENCE_SECONDS = 2.0
_CONNECT_RETRY_SECONDS = 0.05
# How long ensure_topics and delete_topics wait for the listing to show their change: it
# lags by moments; a one-off admin step can afford to be patient on a loaded machine.
_LISTING_PATIENCE_SECONDS = 10.0
_COMMIT_INTERVAL_MS = 1000
_HELD_POLL_MESSAGES = 100
_ALREADY_GONE = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.GROUP_ID_NOT_FOUND)
_TOO_LARGE = (KafkaError.MSG_SIZE_TOO_LARGE,)  # also librdkafka's own check
# Failures that a later attempt can get past although librdkafka does not flag them
# retriable: the broker was down or slow for the whole delivery timeout.
_TRANSIENT = (
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._QUEUE_FULL,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
)
# librdkafka's default `message.max.bytes`.
_DEFAULT_MESSAGE_MAX_BYTES = 1_000_000
# A broker refused a message as too large although it passed our check (its topic's
# `max.message.bytes` is lower): shrink it this far.
_BROKER_REFUSED_BYTES = 100_000


class KafkaBroker(Broker):
    """Kafka through confluent-kafka. No connection is made until a method needs one.

    Args:
        settings: bootstrap servers, partitions, client properties (SASL/TLS).
        topics: topic names and the consumer group.
    """

    name = "apache-kafka"
    transactional = True

    def __init__(self, settings: KafkaSettings, topics: TopicSettings) -> None:
        self._settings = settings
        self._topics = topics
        # One for all of this broker's clients: an outage is logged once, not per client.
        self._repeats = RepeatFilter()

    def _admin_client(self) -> AdminClient:
        return AdminClient({**self._settings.as_librdkafka(), **client_log_config(self._repeats)})

    def _unavailable(self, exc: Exception) -> BrokerUnavailableError:
        return BrokerUnavailableError(
            f"Kafka at {self._settings.bootstrap} did not answer ({exc}); start it with "
            "`fashion-pubsub infra up` or set FASHION_PUBSUB_KAFKA_BOOTSTRAP"
        )

    def ensure_topics(self) -> None:
        admin = self._admin_client()
        try:
            existing = set(admin.list_topics(timeout=15).topics)
        except KafkaException as exc:
            raise self._unavailable(exc) from exc
        finally:
            admin.poll(0)  # serve its log lines
        wanted = [name for name in self._topics.topic_names if name not in existing]
        if not wanted:
            return
        replication = plan_replication(admin, self._settings)
        missing = [
            NewTopic(
                name,
                num_partitions=self._settings.partitions,
                replication_factor=replication.factor,
                config=replication.config,
            )
            for name in wanted
        ]
        for name, future in admin.create_topics(missing, operation_timeout=30).items():
            try:
                future.result(timeout=60)
                log_event(logger, "topic_created", topic=name, partitions=self._settings.partitions)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"creating Kafka topic {name} failed: {exc}") from exc
        await_listing(admin, wanted, listed=True, patience_seconds=_LISTING_PATIENCE_SECONDS)
        admin.poll(0)

    def delete_topics(self) -> None:
        admin = self._admin_client()
        topics = admin.delete_topics(list(self._topics.topic_names), operation_timeout=30)
        groups = admin.delete_consumer_groups([self._topics.consumer_group], request_timeout=15)
        deletions = {**topics, **groups}
        for name, future in deletions.items():
            try:
                future.result(timeout=60)
            except KafkaException as exc:
                if exc.args[0].code() not in _ALREADY_GONE:
                    raise BrokerError(
                        f"deleting Kafka topic or group {name} failed: {exc}"
                    ) from exc
        names = self._topics.topic_names
        await_listing(admin, names, listed=False, patience_seconds=_LISTING_PATIENCE_SECONDS)

    def publisher(self, topic: str) -> Publisher:
        return KafkaPublisher(self._settings, topic, self._repeats)

    def consumer(self) -> Consumer:
        return KafkaConsumer(self._settings, self._topics, self._repeats)

    def transactional_session(self, instance_id: str) -> TransactionalSession:
        """Exactly-once processing: see brokers/transactions.py.

        Args:
            instance_id: stable per subscriber instance; names its transactional id.
        """
        from fashion_pubsub.brokers.kafka_transactions import KafkaTransactions

        return KafkaTransactions(self._settings, self._topics, instance_id, self._repeats)

    def lag_reader(self) -> LagReader:
        from fashion_pubsub.brokers.kafka_lag import KafkaLagReader

        return KafkaLagReader(self._settings, self._topics)


class KafkaPublisher(Publisher):
    """Idempotent producer; `publish` waits for every delivery report of its batch.

    Each batch goes whole to one partition, the next batch to the next partition: one
    record batch per request instead of one per partition, which measured ~25 % less
    broker CPU per image at 6 partitions. Keys still name the image, but no longer
    choose its partition.

    A message refused by librdkafka or the broker (too large, a header that is not
    text) is that message's failure, in its result; the rest of the batch goes on.

    Args:
        settings: bootstrap servers and client properties.
        topic: the topic to publish to.
        repeats: holds back repeated client log lines (shared by a broker's clients).
    """

    def __init__(self, settings: KafkaSettings, topic: str, repeats: RepeatFilter) -> None:
        self._topic = topic
        self._batches = 0
        self._partition_count: int | None = None
        config = {
            # Tuning, which a client properties file may override. No compression:
            # on one machine the CPU, not the network, limits throughput, and lz4
            # measured ~8 % slower end to end; set lz4 for a real network.
            "linger.ms": 5,
            "compression.type": "none",
            **settings.as_librdkafka(),
            **client_log_config(repeats),
            # What at-least-once delivery without duplicates relies on: not overridable.
            "acks": "all",
            "enable.idempotence": True,
            "delivery.timeout.ms": _DELIVERY_TIMEOUT_MS,
        }
        self.limits = kafka_limits(int(config.get("message.max.bytes", _DEFAULT_MESSAGE_MAX_BYTES)))
        self._producer = _Producer(config)

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        results: list[PublishResult | None] = []
        sent: list[OutgoingMessage] = []
        partition = self._next_partition()
        for index, message in enumerate(messages):
            results.append(None)
            sent.append(message)
            refused = check(message, self.limits) or self._produce(
                message, partition, partial(self._delivered, results, index, message)
            )
            if refused is not None:
                results[index] = PublishResult(message, error=refused)
        self._producer.flush(_DELIVERY_TIMEOUT_MS / 1000 + 5)
        confirmed = [
            result
            or PublishResult(
                message, error=PublishError("not confirmed by Kafka in time", retriable=True)
            )
            for result, message in zip(results, sent, strict=True)
        ]
        if not all(result.ok for result in confirmed):
            self._partition_count = None  # the topic may have changed: look again
        return confirmed

    def connect(self) -> None:
        # A new producer needs a while to connect and learn the topic: a publish right
        # after start took 54 ms, and 505-539 ms in 2 of 10 tries; after this metadata
        # request (itself 2-54 ms, at start) 2 ms, as after 3 s of waiting. A topic just
        # created may not be in the broker's metadata yet: until it is, batches would go
        # to any partition, so this waits a little for it.
        deadline = time.monotonic() + _CONNECT_PATIENCE_SECONDS
        answered = self._learn_partitions()
        while answered and self._partition_count is None and time.monotonic() < deadline:
            time.sleep(_CONNECT_RETRY_SECONDS)
            answered = self._learn_partitions()

    def _next_partition(self) -> int:
        """The partition for the next batch, or -1 (librdkafka chooses by key) while the
        topic's partitions are not known."""
        if self._partition_count is None:
            self._learn_partitions()
            if self._partition_count is None:
                return _ANY_PARTITION
        self._batches += 1
        return self._batches % self._partition_count

    def _learn_partitions(self) -> bool:
        """Read how many partitions the topic has (left unknown if Kafka cannot say);
        False if Kafka did not answer at all."""
        try:
            metadata = self._producer.list_topics(self._topic, timeout=10).topics[self._topic]
        except KafkaException as exc:
            log_event(logger, "partitions_unknown", logging.WARNING, error=exc)
            return False
        if has_partitions(metadata):
            self._partition_count = len(metadata.partitions)
        return True

    def _produce(
        self, message: OutgoingMessage, partition: int, callback: Any
    ) -> PublishError | None:
        """Hand the message to librdkafka; the error if it refused it at once."""
        while True:
            try:
                self._producer.produce(
                    self._topic,
                    partition=partition,
                    key=message.key.encode(),
                    value=message.payload,
                    headers=list(message.attributes.items()),
                    on_delivery=callback,
                )
                return None
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.05)
            except KafkaException as exc:
                return _publish_error(exc.args[0], self.limits)
            except (UnicodeError, TypeError, ValueError) as exc:  # a key or header not text
                return PublishError(f"Kafka cannot send this message: {exc}", cause=exc)

    def _delivered(
        self,
        results: list[PublishResult | None],
        index: int,
        message: OutgoingMessage,
        error: KafkaError | None,
        record: _KafkaMessage,
    ) -> None:
        if error is not None:
            results[index] = PublishResult(message, error=_publish_error(error, self.limits))
        else:
            position = f"{record.topic()}[{record.partition()}]@{record.offset()}"
            results[index] = PublishResult(message, message_id=position)

    def close(self) -> None:
        self._producer.flush(_DELIVERY_TIMEOUT_MS / 1000 + 5)


def _publish_error(error: KafkaError, limits: MessageLimits) -> PublishError:
    """Our error for librdkafka's, keeping it as the cause."""
    cause = KafkaException(error)
    if error.code() in _TOO_LARGE:
        smaller = replace(
            limits, max_message_bytes=min(limits.max_message_bytes, _BROKER_REFUSED_BYTES)
        )
        return MessageTooLargeError(f"Kafka refused the message: {error.str()}", smaller, cause)
    return PublishError(
        f"Kafka did not take the message: {error.str()}",
        retriable=error.retriable() or error.code() in _TRANSIENT,
        cause=cause,
    )


class KafkaConsumer(Consumer):
    """A member of the consumer group; commits only offsets whose messages were acked.

    An ack stores the offsets it makes committable, and librdkafka commits what is
    stored once a second: a commit per batch was one more request for the broker per
    batch, with its write to `__consumer_offsets`. Revoked partitions and a closing
    consumer commit at once. A crash can redeliver up to a second of acked messages,
    whose results the subscriber recognises.
    """

    _OVERRIDES: dict[str, Any] = {}  # what a subclass changes (transactions: no auto commit)

    def __init__(
        self, settings: KafkaSettings, topics: TopicSettings, repeats: RepeatFilter
    ) -> None:
        self._consumer = _Consumer(
            {
                **settings.as_librdkafka(),
                **client_log_config(repeats),
                "group.id": topics.consumer_group,
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "auto.commit.interval.ms": _COMMIT_INTERVAL_MS,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # A crashed member's partitions move on after 10 s instead of 45.
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2_000,
                **self._OVERRIDES,
            }
        )
        self._partitions: dict[tuple[str, int], PartitionOffsets] = {}
        self._paused: list[TopicPartition] = []
        self._early: list[Message] = []  # read while holding a batch, handed out next
        self._consumer.subscribe(
            [topics.input_topic], on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        self._resume()
        if self._early:
            taken, self._early = self._early[:max_messages], self._early[max_messages:]
            return taken
        return self._consume(max_messages, timeout)

    def _consume(self, max_messages: int, timeout: float) -> list[Message]:
        # librdkafka's consume() waits the whole timeout unless the batch fills, which
        # held every message of a quiet topic that long. Take what is fetched already;
        # only if there is nothing, wait for one, then take what came with it.
        try:
            records = self._consumer.consume(num_messages=max_messages, timeout=0)
            if not records:
                records = self._consumer.consume(num_messages=1, timeout=timeout)
                if records and max_messages > 1:
                    records += self._consumer.consume(num_messages=max_messages - 1, timeout=0)
        except KafkaException as exc:
            raise BrokerError(f"Kafka consume failed: {exc}") from exc
        return [self._to_message(r) for r in records if not self._is_error(r)]

    @staticmethod
    def _is_error(record: _KafkaMessage) -> bool:
        error = record.error()
        if error is None:
            return False
        if error.code() != KafkaError._PARTITION_EOF:
            log_event(logger, "consume_error", logging.WARNING, error=error.str())
        return True

    def _to_message(self, record: _KafkaMessage) -> Message:
        topic, partition, offset = (
            record.topic() or "",
            record.partition() or 0,
            record.offset() or 0,
        )
        state = self._partitions.get((topic, partition))
        if state is None:  # not setdefault, which built a PartitionOffsets per message
            state = self._partitions[(topic, partition)] = PartitionOffsets()
        key = record.key()
        attributes, defect = headers_to_attributes(record)
        return Message(
            payload=record.value() or b"",
            attributes=attributes,
            key=_text(key) if key is not None else None,
            delivery_attempt=state.delivered(offset),
            position=f"{topic}[{partition}]@{offset}",
            handle=(topic, partition, offset),
            defect=defect,
        )

    def ack(self, messages: Sequence[Message]) -> None:
        self._acknowledge(messages)
        self._store()

    def _acknowledge(self, messages: Sequence[Message]) -> None:
        """Mark the messages done in their partitions' offsets (what may be committed)."""
        for message in messages:
            topic, partition, offset = message.handle
            state = self._partitions.get((topic, partition))
            if state is not None:
                state.acknowledged(offset)

    def nack(self, messages: Sequence[Message]) -> None:
        lowest: dict[tuple[str, int], int] = {}
        for message in messages:
            topic, partition, offset = message.handle
            lowest[(topic, partition)] = min(offset, lowest.get((topic, partition), offset))
        for (topic, partition), offset in lowest.items():
            state = self._partitions.get((topic, partition))
            if state is None:
                continue
            state.rewound(offset)
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # partition revoked meanwhile: the new owner reads it
                log_event(
                    logger,
                    "seek_failed",
                    logging.WARNING,
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    error=exc,
                )

    def extend(self, messages: Sequence[Message]) -> None:
        """Pause every assigned partition and poll: a member that stops polling for
        max.poll.interval.ms (5 minutes) is dropped from the group, and its partitions
        move while it still holds their messages. A paused partition hands out nothing
        new; what a partition assigned meanwhile hands out is kept for `receive`."""
        try:
            assignment = self._consumer.assignment()
            fresh = [tp for tp in assignment if (tp.topic, tp.partition) not in self._paused_keys()]
            if fresh:
                self._consumer.pause(fresh)
                self._paused += fresh
        except KafkaException as exc:
            log_event(logger, "pause_failed", logging.WARNING, error=exc)
        self._early += self._consume(_HELD_POLL_MESSAGES, 0)

    def _paused_keys(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self._paused}

    def _resume(self) -> None:
        if not self._paused:
            return
        paused, self._paused = self._paused, []
        try:
            self._consumer.resume(paused)
        except KafkaException as exc:  # revoked meanwhile: nothing left to resume
            log_event(logger, "resume_failed", logging.WARNING, error=exc)

    def _store(self, only: set[tuple[str, int]] | None = None) -> None:
        """Hand librdkafka the committable offsets, for its next commit."""
        offsets = []
        for (topic, partition), state in self._partitions.items():
            if only is not None and (topic, partition) not in only:
                continue
            offset = state.committable()
            if offset is not None:
                offsets.append(TopicPartition(topic, partition, offset))
                state.committed = offset
        if offsets:
            try:
                self._consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:
                log_event(logger, "offsets_not_stored", logging.WARNING, error=exc)

    def _commit_now(self, only: set[tuple[str, int]] | None = None) -> None:
        self._store(only)
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:  # nothing stored since the last
                log_event(logger, "commit_failed", logging.WARNING, error=exc)

    def _on_revoke(self, _: Any, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        # The caller first finishes what it is writing and acks it, so the commit covers
        # it and the new owner does not process it again.
        try:
            self._released()
        except Exception:  # noqa: BLE001 - raised inside consume(): the revocation goes on
            logger.exception("release_failed partitions=%s", sorted(revoked))
        self._commit_now(only=revoked)
        self._forget(revoked)

    def _on_lost(self, _: Any, partitions: list[TopicPartition]) -> None:
        self._forget({(p.topic, p.partition) for p in partitions})

    def _forget(self, partitions: set[tuple[str, int]]) -> None:
        for key in partitions:
            self._partitions.pop(key, None)
        leaving = [tp for tp in self._paused if (tp.topic, tp.partition) in partitions]
        if leaving:
            # librdkafka keeps a partition's pause across a rebalance: one that leaves
            # paused and is assigned back later would never be read again.
            self._paused = [tp for tp in self._paused if (tp.topic, tp.partition) not in partitions]
            try:
                self._consumer.resume(leaving)
            except KafkaException as exc:
                log_event(logger, "resume_failed", logging.WARNING, error=exc)
        self._early = [m for m in self._early if m.handle[:2] not in partitions]

    def close(self) -> None:
        self._commit_now()
        self._consumer.close()


def headers_to_attributes(record: _KafkaMessage) -> tuple[dict[str, str], str | None]:
    """A record's headers as attributes, and what is wrong with them (or None).

    Kafka headers are bytes, may repeat and may be null; attributes are unique text. A
    header that does not fit is the message's defect (it is dead-lettered with it), never
    an exception: the attributes then keep a readable, backslash-escaped rendering.
    """
    try:
        headers = record.headers() or []
    except ValueError as exc:  # a header name that is not UTF-8 (UnicodeDecodeError)
        return {}, f"Kafka headers cannot be read: {exc}"
    attributes: dict[str, str] = {}
    defects: list[str] = []
    for name, value in headers:  # type: ignore[str-unpack]  # stubs
        if name in attributes:
            defects.append(f"header {name!r} appears more than once")
        elif value is None:
            defects.append(f"header {name!r} has no value")
            attributes[name] = ""
        elif isinstance(value, bytes):
            try:
                attributes[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                defects.append(f"header {name!r} is not UTF-8")
                attributes[name] = value.decode("utf-8", "backslashreplace")
        else:
            attributes[name] = str(value)
    return attributes, "; ".join(defects[:3]) or None


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="backslashreplace")
    return value or ""
