"""Errors from the brokers. Each keeps its cause (`raise ... from exc`, or `cause=` for an
error that is reported rather than raised) and says whether trying again can help.

FashionPubSubError
 └── BrokerError                  a broker refused an operation
      ├── BrokerUnavailableError  it cannot be reached (start it, or fix the address): retriable
      ├── TopicNotFoundError      a topic or subscription is missing (run init-brokers)
      └── PublishError            one message was not published (in `PublishResult.error`)
           └── MessageTooLargeError  it is over the broker's size limits: never retriable as is
"""

from typing import TYPE_CHECKING

from fashion_pubsub.errors import FashionPubSubError

if TYPE_CHECKING:
    from fashion_pubsub.brokers.limits import MessageLimits


class BrokerError(FashionPubSubError):
    """A broker refused an operation.

    Args:
        message: what failed, and the fix where there is one.
        retriable: whether the same operation may succeed later (confluent-kafka's
            `KafkaError.retriable()`); the class default when not given.
        cause: the client library's error, for errors that are returned, not raised.
    """

    default_retriable = False

    def __init__(
        self, message: str, *, retriable: bool | None = None, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self._retriable = self.default_retriable if retriable is None else retriable
        if cause is not None:
            self.__cause__ = cause

    @property
    def retriable(self) -> bool:
        """True if trying the same operation again later may succeed."""
        return self._retriable


class BrokerUnavailableError(BrokerError):
    """The broker cannot be reached; the message names the address and the fix."""

    default_retriable = True


class TopicNotFoundError(BrokerError):
    """A topic or subscription does not exist; run `fashion-pubsub init-brokers`."""


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
