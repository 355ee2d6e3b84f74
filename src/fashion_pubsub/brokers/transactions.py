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
"""

from abc import abstractmethod
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from fashion_pubsub.brokers.base import Consumer, Publisher
from fashion_pubsub.closing import Closeable


class TransactionalSession(Closeable):
    """A consumer and publishers whose outcome commits in one transaction (see module doc)."""

    consumer: Consumer

    @abstractmethod
    def publisher(self, topic: str) -> Publisher:
        """A publisher for `topic` inside the session's transactions."""

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
