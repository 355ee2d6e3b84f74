"""Kafka only: a member holding a batch (`extend`) for longer than max.poll.interval.ms
stays in the group, so its batch is not handed to another member meanwhile."""

import time
from pathlib import Path

import pytest

from fashion_pubsub.brokers.base import Broker, Consumer, Message, OutgoingMessage
from fashion_pubsub.brokers.factory import create_broker
from fashion_pubsub.settings import AppSettings, KafkaSettings, PubSubSettings, TopicSettings

from .conftest import unique_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

MAX_POLL_MS = 10_000  # the least librdkafka takes beside our 10 s session timeout


def held_broker(bootstrap: str, topics: TopicSettings, folder: Path) -> Broker:
    properties = folder / "client.properties"
    properties.write_text(f"max.poll.interval.ms={MAX_POLL_MS}\n")
    settings = KafkaSettings(bootstrap=bootstrap, partitions=1, client_properties=properties)
    broker = create_broker(AppSettings(broker="apache-kafka"), settings, PubSubSettings(), topics)
    broker.ensure_topics()
    return broker


def receive(consumer: Consumer, count: int, seconds: float = 30.0) -> list[Message]:
    found: list[Message] = []
    deadline = time.monotonic() + seconds
    while len(found) < count and time.monotonic() < deadline:
        found += consumer.receive(count - len(found), 1.0)
    return found


def test_a_held_batch_stays_with_its_member_past_max_poll_interval(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = unique_topics()
    broker = held_broker(kafka_bootstrap, topics, tmp_path)
    with broker.publisher(topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish([OutgoingMessage("k", b"x")] * 3))
    with broker.consumer() as holder:
        held = receive(holder, 3)
        assert len(held) == 3
        until = time.monotonic() + MAX_POLL_MS / 1000 * 1.5
        while time.monotonic() < until:  # a model server outage: the batch is held
            holder.extend(held)
            time.sleep(1.0)
        holder.ack(held)
        assert holder.receive(10, 2.0) == []  # resumed, and nothing new
    with broker.consumer() as successor:
        assert receive(successor, 1, seconds=15) == []  # the held batch was committed


def publish_to_every_partition(broker: Broker, topic: str, batches: int) -> None:
    """Each batch goes to one partition, turning through them: `batches` >= partitions."""
    with broker.publisher(topic) as publisher:
        for b in range(batches):
            outgoing = [OutgoingMessage(f"{b}-{i}", b"x") for i in range(5)]
            assert all(r.ok for r in publisher.publish(outgoing))


def test_a_partition_paused_while_held_reads_again_after_it_moves_away_and_back(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """librdkafka keeps a partition's pause across a rebalance: a partition revoked while
    its batch was held (paused) and assigned back later must not stay paused for good."""
    topics = unique_topics()
    settings = KafkaSettings(bootstrap=kafka_bootstrap, partitions=2)
    broker = create_broker(AppSettings(broker="apache-kafka"), settings, PubSubSettings(), topics)
    broker.ensure_topics()
    publish_to_every_partition(broker, topics.input_topic, batches=2)
    with broker.consumer() as holder:
        held = receive(holder, 10)
        assert len(held) == 10
        holder.extend(held)  # both partitions paused while the batch is held
        with broker.consumer() as newcomer:  # takes one partition from the holder
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not newcomer.receive(1, 0.5):
                holder.extend(held)
                publish_to_every_partition(broker, topics.input_topic, batches=2)
        holder.ack(held)
        # The newcomer left: the holder gets its partition back, and reads both again.
        publish_to_every_partition(broker, topics.input_topic, batches=2)
        partitions: set[int] = set()
        deadline = time.monotonic() + 40
        while partitions != {0, 1} and time.monotonic() < deadline:
            partitions |= {m.handle[1] for m in holder.receive(100, 1.0)}
    assert partitions == {0, 1}
