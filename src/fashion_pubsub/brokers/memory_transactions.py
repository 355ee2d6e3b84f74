"""Kafka-like transactions for the in-memory broker, as `KafkaTransactions` behaves:
what a session publishes is held back until the consumer's `ack` commits it together
with the offsets; a `nack`, a refused message or an injected commit failure aborts,
and the consumer goes back to the committed offsets.

Inspection on the broker: `committed_transactions` and `aborted_transactions` count
commits and aborts, and `aborted(topic)` lists what the aborts had published (what a
read_uncommitted reader would see on top of `messages(topic)`). Injection:
`commit_failures` aborts that many commits; `fenced` makes every commit and abort raise
TransactionFencedError, as a newer instance would.
"""

import threading
from collections.abc import Sequence

from fashion_pubsub.brokers.base import Message, OutgoingMessage, Publisher, PublishResult
from fashion_pubsub.brokers.errors import TransactionAbortedError, TransactionFencedError
from fashion_pubsub.brokers.memory import MemoryBroker, MemoryPublisher, _GroupConsumer
from fashion_pubsub.brokers.transactions import TransactionalSession, parse_position


class MemoryTransactions(TransactionalSession):
    """A session on a Kafka-flavoured `MemoryBroker`.

    Args:
        broker: the broker.
    """

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, OutgoingMessage]] = []
        self._refused = False
        self.consumer = _TransactionalConsumer(broker, self)

    def publisher(self, topic: str) -> Publisher:
        return _TransactionalPublisher(self, topic)

    def committed(self, positions: Sequence[str]) -> bool:
        committed = self._broker.committed()
        return all(committed.get(p, 0) > o for _, p, o in map(parse_position, positions))

    def close(self) -> None:
        if not self._broker.fenced:
            self.abort()
        self.consumer.close()

    def hold(self, topic: str, batch: int, message: OutgoingMessage) -> PublishResult:
        """Keep `message` for the commit, or refuse it (and doom the transaction)."""
        refused = self._broker._refusal(topic, message)
        with self._lock:
            if refused is not None:
                self._refused = True  # as with Kafka: the transaction can only abort now
                return PublishResult(message, error=refused)
            self._pending.append((topic, batch, message))
        return PublishResult(message, message_id=f"{topic}[pending]")

    def commit(self) -> None:
        """Store what is held, or abort and raise TransactionAbortedError."""
        broker = self._broker
        self._raise_if_fenced()
        if self._refused or broker.commit_failures > 0:
            broker.commit_failures = max(0, broker.commit_failures - 1)
            self.abort()
            raise TransactionAbortedError("memory broker: transaction aborted at commit")
        with broker._lock, self._lock:
            for topic, batch, message in self._pending:
                broker._append(topic, batch, message)
            self._pending.clear()
            broker.committed_transactions += 1

    def abort(self) -> None:
        broker = self._broker
        self._raise_if_fenced()
        with broker._lock, self._lock:
            if self._pending or self._refused:
                broker.aborted_transactions += 1
                broker._aborted.extend((topic, m) for topic, _, m in self._pending)
            self._pending.clear()
            self._refused = False

    def _raise_if_fenced(self) -> None:
        if self._broker.fenced:
            raise TransactionFencedError("memory broker: fenced; another instance took over")


class _TransactionalConsumer(_GroupConsumer):
    """A group member whose acks commit the session's transaction."""

    def __init__(self, broker: MemoryBroker, session: MemoryTransactions) -> None:
        super().__init__(broker)
        self._session = session

    def ack(self, messages: Sequence[Message]) -> None:
        try:
            self._session.commit()
        except TransactionAbortedError:
            self._rewind_to_committed()
            raise
        super().ack(messages)

    def nack(self, messages: Sequence[Message]) -> None:
        self._session.abort()
        self._rewind_to_committed()

    def _rewind_to_committed(self) -> None:
        broker = self._broker
        with broker._lock:
            for partition, state in self._offsets.items():
                offset = broker._committed.get(partition, 0)
                state.rewound(offset)
                self._positions[partition] = offset
            broker._lock.notify_all()


class _TransactionalPublisher(MemoryPublisher):
    """A `MemoryPublisher` whose messages wait in the session's transaction."""

    def __init__(self, session: MemoryTransactions, topic: str) -> None:
        super().__init__(session._broker, topic)
        self._session = session

    def _store(self, message: OutgoingMessage) -> PublishResult:
        return self._session.hold(self._topic, self._batches, message)

    def close(self) -> None:
        """Held messages belong to the session's transaction."""
