"""One broker API over Apache Kafka and Google Cloud Pub/Sub (docs/brokers.md).

Importing this package loads neither broker's client library: `create_broker` imports the
chosen implementation when it is called.
"""

from fashion_pubsub.brokers.base import (
    Broker,
    Consumer,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
)
from fashion_pubsub.brokers.errors import BrokerError, BrokerUnavailableError, TopicNotFoundError
from fashion_pubsub.brokers.factory import create_broker

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerUnavailableError",
    "Consumer",
    "Message",
    "OutgoingMessage",
    "PublishResult",
    "Publisher",
    "TopicNotFoundError",
    "create_broker",
]
