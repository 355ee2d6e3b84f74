"""Kafka transactions for a consume-process-produce loop (KIP-98, fencing by KIP-447).

One transactional producer serves every publisher of the session. Per batch: the first
publish begins a transaction; the consumer's `ack` sends the consumed offsets with the
consumer group's metadata (`send_offsets_to_transaction`) and commits; its `nack`
aborts and seeks back to the committed offsets. The group metadata fences a zombie: a
member that lost its partitions in a rebalance can no longer commit offsets for them.
The transactional id, stable per subscriber instance, fences an earlier incarnation:
`init_transactions` aborts whatever a killed predecessor left open.
"""

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Producer as _Producer

from fashion_pubsub.brokers.base import Message, OutgoingMessage, Publisher, PublishResult
from fashion_pubsub.brokers.errors import (
    BrokerError,
    TransactionAbortedError,
    TransactionFencedError,
)
from fashion_pubsub.brokers.kafka import (
    _DEFAULT_MESSAGE_MAX_BYTES,
    KafkaConsumer,
    KafkaPublisher,
)
from fashion_pubsub.brokers.kafka_logs import RepeatFilter, client_log_config
from fashion_pubsub.brokers.limits import kafka_limits
from fashion_pubsub.brokers.transactions import TransactionalSession, parse_position
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import KafkaSettings, TopicSettings

logger = logging.getLogger(__name__)

_TIMEOUT_S = 30.0
_COMMIT_RETRIES = 3


class KafkaTransactions(TransactionalSession):
    """A transactional producer and a read_committed consumer without auto commit.

    Args:
        settings: bootstrap servers and client properties.
        topics: the input topic and consumer group.
        instance_id: names the transactional id (`<group>-<instance_id>`).
        repeats: holds back repeated client log lines (shared by the broker's clients).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topics: TopicSettings,
        instance_id: str,
        repeats: RepeatFilter,
    ) -> None:
        self.transactional_id = f"{topics.consumer_group}-{instance_id}"
        self._config: dict[str, Any] = {
            "linger.ms": 5,
            "compression.type": "none",
            **settings.as_librdkafka(),
            **client_log_config(repeats),
            "acks": "all",
            "enable.idempotence": True,
            "transactional.id": self.transactional_id,
            # Below the transaction timeout: a publish gives up before its transaction does.
            "delivery.timeout.ms": 30_000,
            # A killed instance's open transaction holds back read_committed readers
            # until its successor starts (which aborts it) or this timeout.
            "transaction.timeout.ms": 60_000,
        }
        self._lock = threading.Lock()
        self._open = False
        self.transactions = 0  # transactions begun so far
        self._fenced = False  # a fenced producer can do nothing more, not even abort
        self.producer = self._new_producer()
        log_event(logger, "transactions_ready", transactional_id=self.transactional_id)
        self.limits = kafka_limits(
            int(self._config.get("message.max.bytes", _DEFAULT_MESSAGE_MAX_BYTES))
        )
        self._consumer = TransactionalConsumer(settings, topics, repeats, self)
        self.consumer = self._consumer

    def _new_producer(self) -> _Producer:
        """A producer with our transactional id, initialised: that fences any earlier one
        of the same id and aborts what it left open."""
        producer = _Producer(self._config)
        self._call(producer.init_transactions, _TIMEOUT_S)
        return producer

    def publisher(self, topic: str) -> Publisher:
        return TransactionalPublisher(self, topic)

    def begin(self) -> None:
        """Begin a transaction unless one is open."""
        with self._lock:
            self._raise_if_fenced()
            if not self._open:
                self._call(self.producer.begin_transaction)
                self._open = True
                self.transactions += 1

    def commit(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """Commit what was produced since `begin`, with the consumed `offsets`; on failure
        abort and raise TransactionAbortedError (or TransactionFencedError)."""
        if not offsets and not self._open:
            return  # nothing produced, nothing consumed: no transaction needed
        self.begin()
        try:
            if offsets:
                self._send_offsets(offsets, group_metadata)
            self._commit_with_retries()
        except TransactionAbortedError:
            self.abort()
            raise
        with self._lock:
            self._open = False

    def _send_offsets(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """send_offsets_to_transaction, watched: librdkafka can block in it past its timeout
        when the group coordinator went away (librdkafka issues 5456 and 5511: a broker
        restarted under a single-node cluster did it here). Then the wedged producer is
        replaced by a new one of the same transactional id, which fences it and aborts its
        transaction, and the batch comes again."""
        producer, outcome = self.producer, list[BaseException | None]()

        def send() -> None:
            try:
                producer.send_offsets_to_transaction(offsets, group_metadata, _TIMEOUT_S)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome.append(exc)

        watcher = threading.Thread(target=send, name="send-offsets", daemon=True)
        watcher.start()
        watcher.join(_TIMEOUT_S + 5)
        if watcher.is_alive():
            log_event(logger, "send_offsets_stuck", logging.WARNING, id=self.transactional_id)
            with self._lock:
                self._open = False
                self.producer = self._new_producer()
            raise TransactionAbortedError(
                "Kafka did not take the offsets in time; the producer was replaced and the "
                "transaction aborted"
            )
        if outcome and isinstance(outcome[0], KafkaException):
            raise self._failed(outcome[0].args[0], "send_offsets_to_transaction") from outcome[0]
        if outcome and outcome[0] is not None:
            raise outcome[0]

    def _commit_with_retries(self) -> None:
        for attempt in range(1, _COMMIT_RETRIES + 1):
            try:
                self.producer.commit_transaction(_TIMEOUT_S)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                # librdkafka: a retriable commit error means "call commit again".
                if error.retriable() and attempt < _COMMIT_RETRIES:
                    continue
                raise self._failed(error, "commit") from exc

    def abort(self) -> None:
        """Abort the open transaction, if any: nothing of it is ever visible."""
        with self._lock:
            self._raise_if_fenced()
            if not self._open:
                return
            self._open = False
        self._call(self.producer.abort_transaction, _TIMEOUT_S)
        log_event(logger, "transaction_aborted", logging.WARNING, id=self.transactional_id)

    def committed(self, positions: Sequence[str]) -> bool:
        wanted: dict[tuple[str, int], int] = {}
        for position in positions:
            topic, partition, offset = parse_position(position)
            wanted[(topic, partition)] = max(offset, wanted.get((topic, partition), offset))
        return self._consumer.committed_past(wanted)

    def close(self) -> None:
        """Abort what is open (the broker would after the transaction timeout anyway) and
        leave the group; a failure is logged, never raised over the error that ended us."""
        try:
            self.abort()
        except BrokerError as exc:
            log_event(logger, "abort_on_close_failed", logging.WARNING, error=exc)
        finally:
            self.consumer.close()

    def _call(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except KafkaException as exc:
            raise self._failed(exc.args[0], getattr(method, "__name__", "call")) from exc

    def _raise_if_fenced(self) -> None:
        if self._fenced:
            raise TransactionFencedError(
                f"Kafka fenced transactional id {self.transactional_id}: another instance "
                "with the same transactional id took over; this one stops"
            )

    def _failed(self, error: KafkaError, step: str) -> BrokerError:
        """Our error for `error`, remembering a fencing: nothing can follow it."""
        ours = _our_error(error, step)
        if isinstance(ours, TransactionFencedError):
            self._fenced = True
            self._open = False
        return ours


def _our_error(error: KafkaError, step: str) -> BrokerError:
    """Our error for a failed transaction step: fenced (stop), abortable (redo the batch)
    or another broker error."""
    if error.fatal() or error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED):
        return TransactionFencedError(
            f"Kafka fenced this subscriber's transactions ({step}: {error.str()}): another "
            "instance with the same transactional id took over; this one stops"
        )
    if error.txn_requires_abort():
        return TransactionAbortedError(f"Kafka transaction aborted at {step}: {error.str()}")
    return BrokerError(f"Kafka transaction {step} failed: {error.str()}")


class TransactionalPublisher(KafkaPublisher):
    """Publishes inside the session's transaction, with its producer; `publish` still
    waits for each delivery report, so a refused message is reported in its result (and
    the transaction can then only abort).

    Every batch of one transaction goes to the same partition, the next transaction's to
    the next one. The first message to a partition in a transaction waits for a round
    trip to the coordinator (AddPartitionsToTxn) before it is sent: turning to the next
    partition at every batch paid it up to six times per transaction (at 1,000 images/s
    on Kafka a batch's publish took 8.3 ms at p90 before, 6.8 after; docs/benchmarks.md).
    """

    def __init__(self, session: KafkaTransactions, topic: str) -> None:
        # Not KafkaPublisher.__init__: the session's producer is shared, not created here.
        self._session = session
        self._topic = topic
        self._batches = 0
        self._partition_count: int | None = None
        self.limits = session.limits
        self._partition_of: tuple[int, int] | None = None  # (transaction, its partition)

    @property
    def _producer(self) -> _Producer:  # type: ignore[override]
        """The session's producer of the moment (it may have replaced a wedged one)."""
        return self._session.producer

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        self._session.begin()
        return super().publish(messages)

    def _next_partition(self) -> int:
        """The open transaction's partition; a new transaction takes the next one."""
        transaction = self._session.transactions
        if self._partition_of is None or self._partition_of[0] != transaction:
            self._partition_of = (transaction, super()._next_partition())
        return self._partition_of[1]

    def close(self) -> None:
        """The session owns the producer: what is not committed is aborted there."""


class TransactionalConsumer(KafkaConsumer):
    """A group member whose offsets are committed only inside transactions."""

    _OVERRIDES = {"enable.auto.commit": False, "isolation.level": "read_committed"}

    def __init__(
        self,
        settings: KafkaSettings,
        topics: TopicSettings,
        repeats: RepeatFilter,
        session: KafkaTransactions,
    ) -> None:
        self._session = session
        super().__init__(settings, topics, repeats)

    def ack(self, messages: Sequence[Message]) -> None:
        """Commit the session's transaction with the offsets these acks make committable."""
        self._acknowledge(messages)
        offsets = []
        for (topic, partition), state in self._partitions.items():
            offset = state.committable()
            if offset is not None:
                offsets.append(TopicPartition(topic, partition, offset))
        try:
            self._session.commit(offsets, self._consumer.consumer_group_metadata())
        except TransactionAbortedError:
            self._rewind()
            raise
        for tp in offsets:
            committed = self._partitions.get((tp.topic, tp.partition))
            if committed is not None:
                committed.committed = tp.offset

    def nack(self, messages: Sequence[Message]) -> None:
        """Abort the transaction; everything since the last commit comes again."""
        self._session.abort()
        self._rewind()

    def _rewind(self) -> None:
        """Seek every assigned partition back to its committed offset; what was read
        ahead while holding a batch is read again from there."""
        self._early = []
        try:
            committed = self._consumer.committed(self._consumer.assignment(), timeout=_TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"reading committed offsets failed: {exc}") from exc
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            state = self._partitions.get((tp.topic, tp.partition))
            if state is not None:
                state.rewound(max(offset, 0))
            try:
                self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            except KafkaException as exc:  # revoked meanwhile: the new owner reads it
                log_event(logger, "seek_failed", logging.WARNING, partition=tp.partition, error=exc)

    def committed_past(self, wanted: dict[tuple[str, int], int]) -> bool:
        """Whether the group's committed offset of each partition is past its offset."""
        partitions = [TopicPartition(topic, partition) for topic, partition in wanted]
        try:
            committed = self._consumer.committed(partitions, timeout=_TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"reading committed offsets failed: {exc}") from exc
        return all(tp.offset > wanted[(tp.topic, tp.partition)] for tp in committed)

    def _commit_now(self, only: set[tuple[str, int]] | None = None) -> None:
        """Offsets are committed only inside transactions, never on their own."""
