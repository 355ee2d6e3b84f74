"""The in-memory broker behaves as the real ones do where the pipeline relies on it."""

import threading
import weakref

import pytest

from fashion_pubsub.brokers.base import Message, OutgoingMessage, Publisher
from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.settings import TopicSettings
from tests.support.fakes import ManualClock


def outgoing(count: int, start: int = 0) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(f"k{i}", bytes([i % 256]) * 4, {"n": str(i)})
        for i in range(start, start + count)
    ]


def numbers(messages: list[Message]) -> list[int]:
    return [int(m.attributes["n"]) for m in messages]


def make(flavour: str = "kafka", **options: object) -> MemoryBroker:
    broker = MemoryBroker(TopicSettings(), flavour=flavour, **options)  # type: ignore[arg-type]
    broker.ensure_topics()
    return broker


_publishers: "weakref.WeakKeyDictionary[MemoryBroker, Publisher]" = weakref.WeakKeyDictionary()


def publish(broker: MemoryBroker, count: int, start: int = 0) -> None:
    """One batch to the input topic; a broker's successive batches go to successive
    partitions, as from one publisher process."""
    publisher = _publishers.setdefault(broker, broker.publisher(broker.topics.input_topic))
    assert all(r.ok for r in publisher.publish(outgoing(count, start)))


@pytest.mark.parametrize("flavour", ["kafka", "pubsub"])
def test_round_trip_and_ack(flavour: str) -> None:
    broker = make(flavour)
    publish(broker, 5)
    consumer = broker.consumer()
    received = consumer.receive(10, 0)
    assert numbers(received) == [0, 1, 2, 3, 4]
    assert received[0].payload == b"\x00" * 4 and received[0].key == "k0"
    assert all(m.delivery_attempt == 1 for m in received)
    consumer.ack(received)
    assert broker.unfinished() == 0
    assert consumer.receive(10, 0) == []


def test_publishing_to_a_missing_topic_fails_per_message() -> None:
    broker = MemoryBroker(TopicSettings())
    results = broker.publisher("nowhere").publish(outgoing(2))
    assert [r.ok for r in results] == [False, False]
    assert "not found" in str(results[0].error)


def test_kafka_nack_seeks_back_and_counts_attempts() -> None:
    broker = make("kafka")
    publish(broker, 4)
    consumer = broker.consumer()
    first = consumer.receive(10, 0)
    consumer.ack([first[0], first[3]])
    consumer.nack([first[1]])
    again = consumer.receive(10, 0)
    assert numbers(again) == [1, 2, 3]  # everything from the lowest nacked offset
    assert [m.delivery_attempt for m in again] == [2, 2, 1]
    assert broker.committed() == {0: 1}  # never past the nacked message
    consumer.ack(again)
    assert broker.committed() == {0: 4} and broker.unfinished() == 0


def test_kafka_batches_go_to_the_next_partition_and_each_is_read_in_order() -> None:
    broker = make("kafka", partitions=3)
    publisher = broker.publisher(broker.topics.input_topic)
    for start in (0, 10, 20):
        publisher.publish(outgoing(3, start))
    received = broker.consumer().receive(100, 0)
    positions = [m.position for m in received]
    assert len(set(p.split("@")[0] for p in positions)) == 3
    for partition in {p.split("@")[0] for p in positions}:
        offsets = [int(p.split("@")[1]) for p in positions if p.startswith(partition)]
        assert offsets == sorted(offsets)


def test_kafka_rebalance_runs_the_release_callback_before_committing() -> None:
    broker = make("kafka", partitions=2)
    publish(broker, 2)  # partition 1
    publish(broker, 2, 10)  # partition 0
    first = broker.consumer()
    held = first.receive(10, 0)
    assert len(held) == 4
    first.on_release(lambda: first.ack(held))
    second = broker.consumer()  # joins: one partition moves to it after `first` lets go
    assert second.receive(10, 0) == []
    assert first.receive(10, 0) == []  # serves the revocation: callback, commit, hand over
    assert broker.committed() == {0: 2, 1: 2}
    assert second.receive(10, 0) == []  # nothing is read twice
    publish(broker, 1, 30)
    publish(broker, 1, 40)
    assert sorted(numbers(first.receive(10, 0) + second.receive(10, 0))) == [30, 40]


def test_kafka_without_release_the_new_owner_reads_unacked_messages_again() -> None:
    broker = make("kafka", partitions=2)
    publish(broker, 1)
    publish(broker, 1, 10)
    first = broker.consumer()
    held = first.receive(10, 0)
    second = broker.consumer()
    first.receive(10, 0)
    first.ack(held)  # too late for the revoked partition
    assert len(second.receive(10, 0)) == 1


def test_kafka_close_hands_partitions_to_the_others() -> None:
    broker = make("kafka", partitions=2)
    first, second = broker.consumer(), broker.consumer()
    publish(broker, 1)
    publish(broker, 1, 10)
    first.close()
    assert sorted(numbers(second.receive(10, 0))) == [0, 10]


def test_kafka_extend_pauses_until_the_next_receive() -> None:
    broker = make("kafka")
    publish(broker, 1)
    consumer = broker.consumer()
    held = consumer.receive(1, 0)
    consumer.extend(held)
    assert consumer.paused == {0}  # type: ignore[attr-defined]
    consumer.receive(1, 0)
    assert consumer.paused == set()  # type: ignore[attr-defined]


def test_pubsub_leases_expire_unless_extended() -> None:
    clock = ManualClock()
    broker = make("pubsub", ack_deadline_seconds=10, clock=clock)
    publish(broker, 2)
    consumer = broker.consumer()
    held = consumer.receive(10, 0)
    clock.advance(8)
    consumer.extend(held[:1])
    clock.advance(8)
    again = consumer.receive(10, 0)
    assert numbers(again) == [1] and again[0].delivery_attempt == 2
    consumer.ack(held)  # the second one's lease ran out: that ack is lost
    assert broker.unfinished() == 1
    consumer.ack(again)
    assert broker.unfinished() == 0


def test_pubsub_dead_letter_policy_forwards_without_a_reason() -> None:
    broker = make("pubsub", max_delivery_attempts=3)
    publish(broker, 1)
    consumer = broker.consumer()
    for attempt in (1, 2, 3):
        received = consumer.receive(1, 0)
        assert [m.delivery_attempt for m in received] == [attempt]
        consumer.nack(received)
    assert consumer.receive(1, 0) == []
    dead = broker.dead_letters()
    assert numbers(dead) == [0] and "dead_letter_reason" not in dead[0].attributes


def test_failure_injection_and_size_limit() -> None:
    broker = make("kafka", max_message_bytes=100)
    broker.fail_publishes(
        broker.topics.predictions_topic, "broker down", when=lambda m: m.key == "k1", times=1
    )
    publisher = broker.publisher(broker.topics.predictions_topic)
    results = publisher.publish(outgoing(3))
    assert [r.error and str(r.error) for r in results] == [None, "broker down", None]
    assert publisher.publish(outgoing(1, 1))[0].ok  # the rule ran out
    big = OutgoingMessage("k", b"x" * 200)
    assert "MSG_SIZE_TOO_LARGE" in str(publisher.publish([big])[0].error)


def test_a_publish_hook_can_hold_a_publisher() -> None:
    broker = make("kafka")
    release = threading.Event()
    broker.on_publish(lambda topic, message: release.wait(5))
    done: list[bool] = []
    worker = threading.Thread(target=lambda: done.append(bool(publish(broker, 1) or True)))
    worker.start()
    assert broker.messages(broker.topics.input_topic) == []
    release.set()
    worker.join(5)
    assert done == [True] and len(broker.messages(broker.topics.input_topic)) == 1


def test_a_waiting_receive_returns_what_another_thread_publishes() -> None:
    broker = make("pubsub")
    consumer = broker.consumer()
    timer = threading.Timer(0.05, publish, args=(broker, 1))
    timer.start()
    assert numbers(consumer.receive(1, 10)) == [0]
    timer.join()
