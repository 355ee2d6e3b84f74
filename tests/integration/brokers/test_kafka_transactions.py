"""Kafka transactions through the session the subscriber uses: an ack commits outputs
and offsets together, a nack or a failed commit shows nothing and rewinds."""

import pytest

from fashion_pubsub.brokers.base import Consumer, Message, OutgoingMessage, Publisher
from fashion_pubsub.brokers.errors import TransactionFencedError
from fashion_pubsub.brokers.kafka import KafkaBroker
from fashion_pubsub.brokers.transactions import SupportsTransactions
from fashion_pubsub.settings import KafkaSettings, TopicSettings
from tests.support.kafka_reading import read_topic

pytestmark = pytest.mark.kafka


def receive(consumer: Consumer, count: int) -> list[Message]:
    received: list[Message] = []
    for _ in range(60):
        received += consumer.receive(count - len(received), 1.0)
        if len(received) >= count:
            break
    return received


def publish_inputs(broker: KafkaBroker, topics: TopicSettings, count: int) -> None:
    with broker.publisher(topics.input_topic) as publisher:
        results = publisher.publish(
            OutgoingMessage(key=str(i), payload=f"in-{i}".encode()) for i in range(count)
        )
    assert all(r.ok for r in results)


@pytest.fixture(
    params=[
        pytest.param("kafka_bootstrap", id="one-node"),
        pytest.param(
            "kafka_cluster", id="three-nodes", marks=[pytest.mark.cluster, pytest.mark.slow]
        ),
    ]
)
def bootstrap(request: pytest.FixtureRequest) -> str:
    """One node, or the replicated 3-node cluster (3 copies, 2 in sync)."""
    value = request.getfixturevalue(request.param)
    return value if isinstance(value, str) else str(value.bootstrap)


@pytest.fixture
def broker(bootstrap: str, topics: TopicSettings) -> KafkaBroker:
    broker = KafkaBroker(KafkaSettings(bootstrap=bootstrap, partitions=1), topics)
    broker.ensure_topics()
    return broker


def test_aborted_output_stays_hidden_from_read_committed_and_its_input_comes_again(
    broker: KafkaBroker, topics: TopicSettings, bootstrap: str
) -> None:
    assert isinstance(broker, SupportsTransactions)
    publish_inputs(broker, topics, 10)
    with broker.transactional_session("test") as session:
        outputs = session.publisher(topics.predictions_topic)
        first = receive(session.consumer, 10)
        assert len(first) == 10
        outputs.publish(OutgoingMessage(key=m.key or "", payload=b"aborted") for m in first)
        session.consumer.nack(first)  # abort
        again = receive(session.consumer, 10)
        assert [m.position for m in again] == [m.position for m in first]
        outputs.publish(OutgoingMessage(key=m.key or "", payload=b"committed") for m in again)
        session.consumer.ack(again)
        assert session.committed([m.position for m in again])

    committed = read_topic(bootstrap, topics.predictions_topic, "read_committed", 10)
    uncommitted = read_topic(bootstrap, topics.predictions_topic, "read_uncommitted", 20)
    assert sorted(v for _, v in committed) == [b"committed"] * 10
    assert sorted(v for _, v in uncommitted) == [b"aborted"] * 10 + [b"committed"] * 10


def test_a_restarted_instance_continues_after_the_committed_offsets(
    broker: KafkaBroker, topics: TopicSettings
) -> None:
    publish_inputs(broker, topics, 6)
    with broker.transactional_session("restart") as session:
        first = receive(session.consumer, 6)
        session.consumer.ack(first[:4])
        assert session.committed([m.position for m in first[:4]])
        assert not session.committed([m.position for m in first])
    with broker.transactional_session("restart") as session:
        rest = receive(session.consumer, 2)
        assert [m.position for m in rest] == [m.position for m in first[4:]]


def test_a_second_instance_with_the_same_id_fences_the_first(
    broker: KafkaBroker, topics: TopicSettings, bootstrap: str
) -> None:
    publish_inputs(broker, topics, 4)
    with broker.transactional_session("twin") as old:
        outputs = old.publisher(topics.predictions_topic)
        received = receive(old.consumer, 4)
        outputs.publish(OutgoingMessage(key=m.key or "", payload=b"zombie") for m in received)
        with broker.transactional_session("twin"):  # a restarted instance: fences the old
            with pytest.raises(TransactionFencedError, match="took over"):
                old.consumer.ack(received)
            with pytest.raises(TransactionFencedError):  # and stays so: nothing to retry
                old.consumer.nack(received)
    assert read_topic(bootstrap, topics.predictions_topic, "read_committed", idle=2.0) == []


def test_the_batches_of_one_transaction_share_a_partition_and_the_next_turns(
    kafka_bootstrap: str, topics: TopicSettings
) -> None:
    # A new partition in a transaction costs a round trip before its first message goes.
    broker = KafkaBroker(KafkaSettings(bootstrap=kafka_bootstrap, partitions=3), topics)
    broker.ensure_topics()
    publish_inputs(broker, topics, 2)

    def partitions(publisher: Publisher, batches: int) -> set[str]:
        results = [
            r for _ in range(batches) for r in publisher.publish([OutgoingMessage("k", b"v")])
        ]
        assert all(r.ok for r in results)
        return {str(r.message_id).split("@")[0] for r in results}

    with broker.transactional_session("partitions") as session:
        outputs = session.publisher(topics.predictions_topic)
        inputs = receive(session.consumer, 2)
        first = partitions(outputs, 4)
        session.consumer.ack(inputs[:1])  # commits: the next batch opens a new transaction
        second = partitions(outputs, 4)
        session.consumer.ack(inputs[1:])
    assert len(first) == 1
    assert len(second) == 1
    assert first != second
