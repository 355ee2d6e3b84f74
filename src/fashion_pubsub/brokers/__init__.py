"""One broker API over Apache Kafka and Google Cloud Pub/Sub (docs/brokers.md): a `Broker`
from `create_broker`, the messages it carries, and its errors. (`Publisher` and `Consumer`,
which a broker hands out, are in `brokers.base` for type annotations.)

Importing this package loads neither broker's client library: `create_broker` imports the
chosen implementation when it is called.
"""

from fashion_pubsub.brokers.base import Broker, Message, OutgoingMessage, PublishResult
from fashion_pubsub.brokers.errors import BrokerError, BrokerUnavailableError, TopicNotFoundError
from fashion_pubsub.brokers.factory import create_broker

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerUnavailableError",
    "Message",
    "OutgoingMessage",
    "PublishResult",
    "TopicNotFoundError",
    "create_broker",
]
