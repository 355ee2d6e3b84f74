"""On the real brokers: a message over the limits fails alone (its neighbours are
published), says it is not retriable, and a dead letter is shrunk until it fits."""

import time

from fashion_pubsub.brokers.base import Broker, Message, OutgoingMessage
from fashion_pubsub.brokers.errors import MessageTooLargeError
from fashion_pubsub.brokers.limits import TRUNCATED, FittingPublisher
from fashion_pubsub.settings import TopicSettings


def _too_large(broker: Broker) -> OutgoingMessage:
    """Over Kafka's 1 MB; on Pub/Sub an attribute over 1,024 bytes (it takes 10 MB bodies)."""
    if broker.name == "apache-kafka":
        return OutgoingMessage("big", b"x" * 1_100_000, {"dead_letter_reason": "test"})
    return OutgoingMessage("big", b"x", {"true_label": "9" * 5000, "dead_letter_reason": "test"})


def _read(broker: Broker, count: int) -> list[Message]:
    found: list[Message] = []
    with broker.consumer() as consumer:
        deadline = time.monotonic() + 30
        while len(found) < count and time.monotonic() < deadline:
            batch = consumer.receive(10, 1.0)
            consumer.ack(batch)
            found += batch
    return found


def test_one_message_over_the_limits_fails_alone(broker: Broker, topics: TopicSettings) -> None:
    small = [OutgoingMessage(f"s{i}", b"ok", {"n": str(i)}) for i in range(3)]
    with broker.publisher(topics.input_topic) as publisher:
        results = publisher.publish([small[0], _too_large(broker), small[1], small[2]])
    assert [r.ok for r in results] == [True, False, True, True]
    error = results[1].error
    assert isinstance(error, MessageTooLargeError) and not error.retriable
    assert sorted(m.key or "" for m in _read(broker, 3)) == ["s0", "s1", "s2"]


def test_a_dead_letter_too_large_for_the_broker_is_sent_shrunk_with_its_reason(
    broker: Broker, topics: TopicSettings
) -> None:
    """A body that fitted the input topic, plus the reason and position added to it."""
    body = b"\xff" * (999_700 if broker.name == "apache-kafka" else 100)
    attributes = {"image_id": "../../x", "dead_letter_reason": "body has 999000 bytes"}
    if broker.name == "google-pubsub":
        attributes["source_file"] = "é" * 600  # 1,200 bytes of UTF-8
    message = OutgoingMessage("poison", body, attributes)
    with FittingPublisher(
        broker.publisher(topics.input_topic), keep=["dead_letter_reason"]
    ) as publisher:
        results = publisher.publish([message, OutgoingMessage("fine", b"ok", {})])
    assert [r.ok for r in results] == [True, True]
    received = {m.key: m for m in _read(broker, 2)}
    shrunk = received["poison"]
    assert shrunk.attributes["dead_letter_reason"] == "body has 999000 bytes"
    assert TRUNCATED in shrunk.attributes
    assert received["fine"].payload == b"ok" and TRUNCATED not in received["fine"].attributes
