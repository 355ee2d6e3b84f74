"""Our broker API on the real Kafka broker and the real Pub/Sub emulator."""

import time

from fashion_pubsub.brokers.base import Broker, Consumer, Message, OutgoingMessage
from fashion_pubsub.settings import TopicSettings


def outgoing(count: int, start: int = 0) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            key=f"image-{i}",
            payload=bytes([i % 256]) * 784,
            attributes={"source_file": f"{i}.png", "schema": "1"},
        )
        for i in range(start, start + count)
    ]


def publish_input(broker: Broker, topics: TopicSettings, messages: list[OutgoingMessage]) -> None:
    """Publish `messages` to the input topic, each accepted."""
    with broker.publisher(topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish(messages))


def receive_at_least(consumer: Consumer, count: int, seconds: float = 30.0) -> list[Message]:
    received: list[Message] = []
    deadline = time.monotonic() + seconds
    while len(received) < count and time.monotonic() < deadline:
        received.extend(consumer.receive(max_messages=count - len(received), timeout=1.0))
    return received


def drain(consumer: Consumer, seconds: float) -> list[Message]:
    received: list[Message] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        received.extend(consumer.receive(max_messages=100, timeout=0.5))
    return received


def test_round_trip_keeps_key_attributes_and_bytes(broker: Broker, topics: TopicSettings) -> None:
    with broker.publisher(topics.input_topic) as publisher:
        results = publisher.publish(outgoing(50))
    assert all(r.ok and r.message_id for r in results)
    with broker.consumer() as consumer:
        received = receive_at_least(consumer, 50)
        consumer.ack(received)
    assert sorted(m.key or "" for m in received) == sorted(f"image-{i}" for i in range(50))
    by_key = {m.key: m for m in received}
    assert by_key["image-7"].payload == bytes([7]) * 784
    assert by_key["image-7"].attributes["source_file"] == "7.png"
    assert all(m.delivery_attempt == 1 for m in received)


def test_unacknowledged_messages_come_back_to_the_next_consumer(
    broker: Broker, topics: TopicSettings
) -> None:
    publish_input(broker, topics, outgoing(20))
    with broker.consumer() as first:
        taken = receive_at_least(first, 20)
        first.nack(taken)  # a consumer that fails and gives everything back
    assert len(taken) == 20
    with broker.consumer() as second:
        again = receive_at_least(second, 20)
        second.ack(again)
    assert {m.key for m in again} == {m.key for m in taken}


def test_acknowledged_messages_are_not_delivered_again(
    broker: Broker, topics: TopicSettings
) -> None:
    publish_input(broker, topics, outgoing(10))
    with broker.consumer() as first:
        first.ack(receive_at_least(first, 10))
    publish_input(broker, topics, outgoing(1, start=100))
    with broker.consumer() as second:
        later = receive_at_least(second, 1)
        second.ack(later)
        assert [m.key for m in later] + [m.key for m in drain(second, 2.0)] == ["image-100"]


def test_nack_redelivers_with_a_higher_attempt(broker: Broker, topics: TopicSettings) -> None:
    publish_input(broker, topics, outgoing(1))
    with broker.consumer() as consumer:
        [first] = receive_at_least(consumer, 1)
        consumer.nack([first])
        [second] = receive_at_least(consumer, 1)
        consumer.ack([second])
    assert second.key == first.key
    assert second.delivery_attempt == 2


def test_ensure_topics_twice_is_fine(broker: Broker) -> None:
    broker.ensure_topics()
    broker.ensure_topics()


def test_two_consumers_share_the_work_and_see_every_message_once(
    broker: Broker, topics: TopicSettings
) -> None:
    with broker.consumer() as first, broker.consumer() as second:
        drain(first, 1.0), drain(second, 1.0)  # join the group before anything is published
        with broker.publisher(topics.input_topic) as publisher:
            for start in range(0, 300, 50):  # as the publisher sends a folder: in batches
                publisher.publish(outgoing(50, start))
        seen: dict[str, list[str]] = {"first": [], "second": []}
        deadline = time.monotonic() + 30
        while sum(map(len, seen.values())) < 300 and time.monotonic() < deadline:
            for name, consumer in (("first", first), ("second", second)):
                batch = consumer.receive(max_messages=20, timeout=0.2)
                consumer.ack(batch)
                seen[name].extend(m.key or "" for m in batch)
    assert seen["first"] and seen["second"], "both consumers must get work"
    everything = seen["first"] + seen["second"]
    assert sorted(everything) == sorted(f"image-{i}" for i in range(300))
