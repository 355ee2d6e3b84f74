"""How each message of a subscriber batch ends, decided piece by piece.

A batch is split as it is processed: images already done, images to classify, images
the model server refused, images whose recording failed. Each piece's messages land in
one list of an `Outcome`: acknowledge, dead-letter now, count a failed attempt, or give
back without counting (a transient cause). `FailureCounter` remembers attempts between
deliveries, so a message that keeps failing is dead-lettered after a bounded number.
"""

import errno
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from fashion_pubsub.brokers.base import Message
from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.pipeline.wire import ImageMessage

T = TypeVar("T")

# A full disk, a read-only or unwritable folder, no file descriptors left: the machine's
# failure, not the message's. Retry (with backoff), never count: counting would end with
# every valid image dead-lettered.
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EAGAIN,
        errno.EINTR,
        errno.EIO,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    }
)


@dataclass
class Item:
    """An image to classify and record, with the other deliveries of the same image in
    its batch: those end as it ends, and get no record of their own."""

    message: Message
    image: ImageMessage
    copies: list[Message] = field(default_factory=list)

    @property
    def messages(self) -> list[Message]:
        return [self.message, *self.copies]


@dataclass
class Outcome:
    """Where the messages of a batch (or part of one) are going.

    Args:
        ack: done (recorded, or already recorded before): acknowledge.
        dead: can never succeed: dead-letter with the reason, then acknowledge.
        failed: failed on their own this time: count an attempt, then give back or,
            at the limit, dead-letter with the reason.
        retry: failed for a transient reason: give back without counting.
    """

    ack: list[Message] = field(default_factory=list)
    dead: list[tuple[Message, str]] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)
    retry: list[Message] = field(default_factory=list)

    def merge(self, other: "Outcome") -> None:
        self.ack += other.ack
        self.dead += other.dead
        self.failed += other.failed
        self.retry += other.retry


class FailureCounter:
    """Failed attempts per message position, across deliveries, in this process.

    Kafka keeps no delivery count, and Pub/Sub's also counts deliveries given back for
    transient reasons, so the subscriber counts failures itself. Positions are stable
    across redeliveries ("topic[p]@offset", the Pub/Sub message id).

    Args:
        limit: positions remembered; the oldest are forgotten past it (a message taken
            over by another subscriber never comes back here).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def failed(self, message: Message) -> int:
        """Count one more failure; returns the number so far."""
        count = self._counts.pop(message.position, 0) + 1
        self._counts[message.position] = count
        if len(self._counts) > self._limit:
            self._counts.popitem(last=False)
        return count

    def forget(self, messages: Sequence[Message]) -> None:
        """The messages are done: acknowledged or dead-lettered."""
        for message in messages:
            self._counts.pop(message.position, None)


def halves(items: Sequence[T]) -> list[list[T]]:
    """Two halves, the first one the larger."""
    middle = (len(items) + 1) // 2
    return [list(items[:middle]), list(items[middle:])]


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later can help for reasons that are not the message's: a full
    disk, an unreachable broker. Follows the causes (`raise ... from exc`), so a wrapped
    error (the results log's, say) is judged by what it wraps."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, BrokerError):
            return seen.retriable
        if isinstance(seen, OSError) and seen.errno in _TRANSIENT_ERRNOS:
            return True
        seen = seen.__cause__
    return False


def describe(exc: BaseException) -> str:
    """A dead-letter reason for an unforeseen error: its type and (short) text."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
