"""Errors from the brokers.

FashionPubSubError
 └── BrokerError                  a broker refused an operation
      ├── BrokerUnavailableError  it cannot be reached (start it, or fix the address)
      └── TopicNotFoundError      a topic or subscription is missing (run init-brokers)
"""

from fashion_pubsub.errors import FashionPubSubError


class BrokerError(FashionPubSubError):
    """A broker refused an operation."""


class BrokerUnavailableError(BrokerError):
    """The broker cannot be reached; the message names the address and the fix."""


class TopicNotFoundError(BrokerError):
    """A topic or subscription does not exist; run `fashion-pubsub init-brokers`."""
