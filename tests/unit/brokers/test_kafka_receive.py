"""Kafka's receive never asks librdkafka to wait for a batch to fill: `consume(n, t)`
waits all of `t` unless `n` records come, which held every message of a quiet topic."""

from typing import Any

from confluent_kafka import Message as KafkaRecord

from fashion_pubsub.brokers.kafka import KafkaConsumer


def _record(offset: int) -> KafkaRecord:
    return KafkaRecord(topic="in", partition=0, offset=offset, value=b"x", headers=[])


class _LibrdkafkaConsumer:
    """Answers `consume` from a script and records each call's (count, timeout)."""

    def __init__(self, answers: list[list[KafkaRecord]]) -> None:
        self.answers = answers
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[KafkaRecord]:
        self.calls.append((num_messages, timeout))
        return self.answers.pop(0) if self.answers else []

    def resume(self, partitions: Any) -> None:
        pass


def _consumer(answers: list[list[KafkaRecord]]) -> tuple[KafkaConsumer, _LibrdkafkaConsumer]:
    consumer = KafkaConsumer.__new__(KafkaConsumer)  # no client: only the receive loop runs
    fake = _LibrdkafkaConsumer(answers)
    consumer._consumer = fake  # type: ignore[assignment]
    consumer._partitions, consumer._paused, consumer._early = {}, [], []
    return consumer, fake


def test_records_already_fetched_are_taken_without_waiting() -> None:
    consumer, fake = _consumer([[_record(0), _record(1)]])
    assert len(consumer.receive(256, timeout=5.0)) == 2
    assert fake.calls == [(256, 0)]


def test_when_nothing_is_fetched_it_waits_for_one_then_takes_what_came_with_it() -> None:
    consumer, fake = _consumer([[], [_record(0)], [_record(1), _record(2)]])
    assert [m.position for m in consumer.receive(256, timeout=5.0)] == [
        "in[0]@0",
        "in[0]@1",
        "in[0]@2",
    ]
    # Only the wait for a first record has a timeout; none asks for a full batch of 256.
    assert fake.calls == [(256, 0), (1, 5.0), (255, 0)]


def test_a_quiet_topic_gives_an_empty_batch_after_the_timeout() -> None:
    consumer, fake = _consumer([])
    assert consumer.receive(256, timeout=0.01) == []
    assert fake.calls == [(256, 0), (1, 0.01)]
