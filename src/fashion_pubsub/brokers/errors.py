"""Errors from the brokers. Each says whether trying again later can succeed (`retriable`),
as confluent-kafka's `KafkaError.retriable()` does; the cause is kept as `__cause__`
(`raise ... from exc`, or `cause=` for an error that is reported rather than raised).

FashionPubSubError
 └── BrokerError                  a broker refused an operation (retriable if its cause is)
      ├── BrokerUnavailableError  it cannot be reached (start it, or fix the address): retriable
      ├── TopicNotFoundError      a topic or subscription is missing (run init-brokers): not
      ├── TransactionAbortedError a Kafka transaction was aborted; its batch comes again: retriable
      ├── TransactionFencedError  another instance took over this transactional id: not
      └── PublishError            one message was not published (in `PublishResult.error`)
           └── MessageTooLargeError  over the broker's size limits: not retriable as it is
"""

from typing import TYPE_CHECKING

from fashion_pubsub.errors import FashionPubSubError

if TYPE_CHECKING:
    from fashion_pubsub.brokers.limits import MessageLimits


class BrokerError(FashionPubSubError):
    """A broker refused an operation.

    Args:
        message: what failed, and the fix where there is one.
        retriable: whether the same operation may succeed later; when not given, what
            the cause says (see `retriable`).
        cause: the client library's error, for errors that are returned, not raised.
    """

    def __init__(
        self, message: str, *, retriable: bool | None = None, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self._retriable = retriable
        if cause is not None:
            self.__cause__ = cause

    @property
    def retriable(self) -> bool:
        """Whether the same call may succeed later: as given, else what the client
        library's error says."""
        if self._retriable is not None:
            return self._retriable
        return _is_transient(self.__cause__)


class BrokerUnavailableError(BrokerError):
    """The broker cannot be reached; the message names the address and the fix."""

    @property
    def retriable(self) -> bool:
        return True  # brokers come back: a restart, a network partition healing


class TopicNotFoundError(BrokerError):
    """A topic or subscription does not exist; run `fashion-pubsub init-brokers`."""

    @property
    def retriable(self) -> bool:
        return False  # it stays missing until someone creates it


class TransactionAbortedError(BrokerError):
    """A Kafka transaction could not commit and was aborted: none of its messages became
    visible to read_committed readers, its offsets were not committed, and the consumer
    went back to the last committed offsets, so its batch is delivered again."""

    @property
    def retriable(self) -> bool:
        return True


class TransactionFencedError(BrokerError):
    """The transactional producer was fenced: a newer instance with the same transactional
    id (or the group after a rebalance) took over. This instance must stop; its open
    transaction is aborted by the broker and its work redone by the new owner."""

    @property
    def retriable(self) -> bool:
        return False


class PublishError(BrokerError):
    """The broker did not confirm one message; `retriable` says if publishing it again
    (unchanged) can succeed."""


class MessageTooLargeError(PublishError):
    """A message is over the broker's limits (size, attribute length or count). It can
    only be published shrunk: `limits` says to what (see `brokers.limits.shrink_to_fit`).

    Args:
        message: what is too large.
        limits: the limits of the broker that refused it.
        cause: the client library's error, if the broker (not our check) refused it.
    """

    def __init__(
        self, message: str, limits: "MessageLimits", cause: BaseException | None = None
    ) -> None:
        super().__init__(message, retriable=False, cause=cause)
        self.limits = limits


def _is_transient(cause: BaseException | None) -> bool:
    """confluent-kafka's KafkaException carries a KafkaError that knows; google-api-core
    classes its errors as transient (unavailable, overloaded, internal) or not."""
    if cause is None:
        return False
    kafka_error = cause.args[0] if cause.args else None
    if callable(getattr(kafka_error, "retriable", None)):
        return bool(kafka_error.retriable())  # type: ignore[union-attr]
    from google.api_core import exceptions, retry

    return isinstance(cause, exceptions.GoogleAPIError) and bool(retry.if_transient_error(cause))
