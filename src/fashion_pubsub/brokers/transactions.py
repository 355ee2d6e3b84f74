"""Transactions: a capability of Kafka only, so not part of `Broker` (Pub/Sub has no way
to make an ack and a publish one atomic step).

A broker that has them offers a `TransactionalSession`: a consumer of the input and
publishers that share one transaction. Everything published through the session's
publishers since the last `ack` or `nack` becomes visible together with the consumed
offsets, on the consumer's next `ack`, or not at all:

- `consumer.ack(messages)` commits the transaction: the published messages and the
  offsets up to the acked messages (never past one still in flight).
- `consumer.nack(messages)` aborts it: nothing published since the last commit is
  ever seen by a read_committed reader, and the consumer goes back to the last
  committed offsets, so every message handed out since comes again.

An ack that cannot commit aborts in the same way and raises `TransactionAbortedError`;
a producer fenced by a newer instance raises `TransactionFencedError`.

A commit is a broker round trip. `prepare_commit` splits an ack in two, so the consumer
need not wait for it: the acknowledgement, on the consumer's thread, and the commit
(`PendingCommit.run`), on the thread that publishes into the session, while the consumer
goes on handing out messages.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from fashion_pubsub.brokers.base import Consumer, Message, Publisher
from fashion_pubsub.brokers.errors import TransactionAbortedError
from fashion_pubsub.closing import Closeable


class PendingCommit(ABC):
    """An ack whose commit is still to come (see `TransactionalSession.prepare_commit`)."""

    @abstractmethod
    def run(self) -> None:
        """Commit the transaction with the offsets taken at `prepare_commit`: the broker
        round trip, on any one thread. An abort raises `TransactionAbortedError` (then
        `nack` on the consumer's thread: everything since the last commit comes again);
        a fenced producer raises `TransactionFencedError`."""

    @abstractmethod
    def settle(self) -> None:
        """Once `run` has committed, note the committed offsets (on the consumer's
        thread)."""


def commit_now(commit: PendingCommit, rewind: Callable[[], None]) -> None:
    """A whole ack on the consumer's thread: run `commit` and settle it; if it aborts,
    `rewind` to the committed offsets and raise `TransactionAbortedError`."""
    try:
        commit.run()
    except TransactionAbortedError:
        rewind()
        raise
    commit.settle()


class TransactionalSession(Closeable):
    """A consumer and publishers whose outcome commits in one transaction (see module doc)."""

    consumer: Consumer

    @abstractmethod
    def publisher(self, topic: str) -> Publisher:
        """A publisher for `topic` inside the session's transactions."""

    @abstractmethod
    def prepare_commit(self, messages: Sequence[Message]) -> PendingCommit:
        """The first half of `consumer.ack(messages)`, on the consumer's thread: acknowledge
        `messages` and take the offsets the commit will cover. The commit (`run`) may then
        go on in another thread while the consumer hands out more messages; nothing may be
        published into the session until it is over (it would join the committing
        transaction), and no other commit may begin before `settle`."""

    @abstractmethod
    def committed(self, positions: Sequence[str]) -> bool:
        """Whether the consumer group's committed offsets are past all of `positions`
        (`Message.position` values): after a crash, whether the transaction that acked
        them committed."""

    @abstractmethod
    def close(self) -> None:
        """Abort an open transaction and leave the group."""


@runtime_checkable
class SupportsTransactions(Protocol):
    """A broker that can open transactional sessions (Kafka, and the in-memory broker
    in its Kafka flavour: `transactional` says whether this one can)."""

    transactional: bool

    def transactional_session(self, instance_id: str) -> TransactionalSession:
        """A session whose transactions fence any earlier one of `instance_id`.

        Args:
            instance_id: stable across restarts of one subscriber instance, so its
                successor aborts what it left open at once.
        """
        ...


def parse_position(position: str) -> tuple[str, int, int]:
    """`topic[partition]@offset` -> (topic, partition, offset)."""
    topic, _, rest = position.rpartition("[")
    partition, _, offset = rest.partition("]@")
    return topic, int(partition), int(offset)
