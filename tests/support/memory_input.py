"""Input for subscriber tests on the in-memory Kafka-like broker: images as messages."""

import numpy as np

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.pipeline.wire import encode
from fashion_pubsub.settings import TopicSettings


def image_messages(count: int, start: int = 0) -> list[OutgoingMessage]:
    """`count` valid image messages; image i is all pixels i, labelled i % 10."""
    return [
        encode(np.full((28, 28), i, dtype=np.uint8), f"img-{i}.png", i % 10, 1.0, 2.0)
        for i in range(start, start + count)
    ]


def make_broker(partitions: int = 1) -> MemoryBroker:
    """A Kafka-like in-memory broker with the product's topics."""
    broker = MemoryBroker(TopicSettings(), flavour="kafka", partitions=partitions)
    broker.ensure_topics()
    return broker


def publish(broker: MemoryBroker, messages: list[OutgoingMessage]) -> None:
    """Publish `messages` to the input topic; every one must be accepted."""
    with broker.publisher(broker.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish(messages))
