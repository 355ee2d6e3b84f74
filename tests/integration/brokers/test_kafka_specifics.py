"""Kafka only: partitions, standard clients, unreachable broker."""

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fashion_pubsub.brokers.base import Message, OutgoingMessage
from fashion_pubsub.brokers.errors import BrokerUnavailableError
from fashion_pubsub.brokers.kafka import KafkaBroker
from fashion_pubsub.settings import KafkaSettings, TopicSettings
from tests.conftest import free_port

from .conftest import make_broker

pytestmark = pytest.mark.kafka


def test_topics_have_the_configured_partitions(
    request: pytest.FixtureRequest, topics: TopicSettings, kafka_bootstrap: str
) -> None:
    make_broker("apache-kafka", request, topics, partitions=4)
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    for name in (topics.input_topic, topics.predictions_topic, topics.dead_letter_topic):
        assert len(metadata.topics[name].partitions) == 4


def test_each_batch_goes_to_one_partition_and_batches_cover_them_all(
    request: pytest.FixtureRequest, topics: TopicSettings
) -> None:
    """One record batch per request keeps the broker's work per image low; turning through
    the partitions still gives every subscriber of the group a share."""
    broker = make_broker("apache-kafka", request, topics, partitions=3)
    with broker.publisher(topics.input_topic) as publisher:
        # As the publish service does: the topic was created a moment ago, and until its
        # partitions show in the metadata a batch would go to any of them.
        publisher.connect()
        batches = [
            publisher.publish(
                OutgoingMessage(key=f"{b}-{i}", payload=b"x", attributes={}) for i in range(20)
            )
            for b in range(6)
        ]
    partitions_per_batch = [
        {result.message_id.split("[")[1].split("]")[0] for result in batch if result.message_id}
        for batch in batches
    ]
    assert all(len(batch) == 20 and all(r.ok for r in batch) for batch in batches)
    assert all(len(partitions) == 1 for partitions in partitions_per_batch)
    assert set.union(*partitions_per_batch) == {"0", "1", "2"}


def test_delete_topics_removes_topics_and_group_and_may_run_twice(
    request: pytest.FixtureRequest, topics: TopicSettings, kafka_bootstrap: str
) -> None:
    broker = make_broker("apache-kafka", request, topics)
    with broker.publisher(topics.input_topic) as publisher:
        publisher.publish([OutgoingMessage(key="k", payload=b"x", attributes={})])
    with broker.consumer() as consumer:  # its commit leaves a group with offsets behind
        received: list[Message] = []
        for _ in range(30):
            received += consumer.receive(max_messages=1, timeout=1.0)
            if received:
                break
        consumer.ack(received)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    groups = admin.list_consumer_groups(request_timeout=10).result().valid
    assert topics.consumer_group in {g.group_id for g in groups}
    broker.delete_topics()
    broker.delete_topics()
    assert not set(topics.topic_names) & set(admin.list_topics(timeout=10).topics)
    groups = admin.list_consumer_groups(request_timeout=10).result().valid
    assert topics.consumer_group not in {g.group_id for g in groups}


def test_standard_clients_produce_and_consume(kafka_bootstrap: str) -> None:
    topic = f"plain-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, key=b"k", value=b"hello kafka")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.value() == b"hello kafka"
    finally:
        consumer.close()


def test_unreachable_kafka_names_the_fix(topics: TopicSettings) -> None:
    broker = KafkaBroker(KafkaSettings(bootstrap=f"127.0.0.1:{free_port()}"), topics)
    with pytest.raises(BrokerUnavailableError, match="infra up"):
        broker.ensure_topics()
