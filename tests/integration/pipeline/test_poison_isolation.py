"""On the real brokers, what the memory broker cannot show: a poison message no longer
stalls a Kafka partition or drags valid neighbours into the dead letters on Pub/Sub,
and a model server outage of many holds dead-letters nothing on Pub/Sub."""

import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.pipeline.wire import encode

from .conftest import Lane, start_server, stop
from .test_bad_input import read_dead_letters


def images(data_dir: Path, count: int, start: int = 0) -> list[OutgoingMessage]:
    test = load_split(data_dir, "test")
    now = time.time()
    return [
        encode(test.images[i], f"{i}.png", int(test.labels[i]), seen_at=now, published_at=now)
        for i in range(start, start + count)
    ]


def with_label(message: OutgoingMessage, label: str) -> OutgoingMessage:
    return OutgoingMessage(
        message.key, message.payload, {**message.attributes, "true_label": label}
    )


@pytest.mark.kafka
@pytest.mark.parametrize("lane", ["apache-kafka"], indirect=True)
def test_kafka_poison_headers_do_not_stall_the_partition(lane: Lane, data_dir: Path) -> None:
    poison, bytes_header, valid = images(data_dir, 3)
    producer = Producer({"bootstrap.servers": lane.address})
    raw = [
        (with_label(poison, "²"), []),  # int("²") used to fail the batch, forever
        (bytes_header, [("source_file", b"caf\xe9.png")]),  # not UTF-8
        (valid, []),
    ]
    for message, extra in raw:  # all on partition 0, in this order
        headers = [(k, v.encode()) for k, v in message.attributes.items() if k != "source_file"]
        if not extra:
            headers.append(("source_file", message.attributes["source_file"].encode()))
        producer.produce(
            lane.topics.input_topic,
            partition=0,
            key=message.key,
            value=message.payload,
            headers=headers + extra,
        )
    assert producer.flush(30) == 0
    lane.subscriber()
    [record] = lane.wait_for_records(1, seconds=60)
    assert record["source_file"] == "2.png"
    dead = read_dead_letters(lane, 2)
    reasons = sorted(m.attributes["dead_letter_reason"] for m in dead)
    assert reasons == ["header 'source_file' is not UTF-8", "true_label '²' is not a class 0-9"]
    assert lane.processes[0].poll() is None


@pytest.mark.pubsub
@pytest.mark.parametrize("lane", ["google-pubsub"], indirect=True)
def test_pubsub_poison_does_not_dead_letter_its_neighbours(lane: Lane, data_dir: Path) -> None:
    burst = images(data_dir, 17)
    burst[8] = with_label(burst[8], "²")
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish(burst))
    lane.subscriber()
    records = lane.wait_for_records(16, seconds=60)
    assert sorted(str(r["source_file"]) for r in records) == sorted(
        f"{i}.png" for i in range(17) if i != 8
    )
    [dead] = read_dead_letters(lane, 1)
    assert dead.attributes["source_file"] == "8.png"
    assert dead.attributes["dead_letter_reason"] == "true_label '²' is not a class 0-9"


@pytest.mark.slow
@pytest.mark.pubsub
@pytest.mark.parametrize("lane", ["google-pubsub"], indirect=True)
def test_pubsub_outage_of_many_holds_dead_letters_nothing(
    lane: Lane, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import free_port

    # A hold used to end after hold_seconds with a nack: five of them and the
    # subscription's policy (five attempts) dead-lettered every valid image, no reason.
    monkeypatch.setenv("FASHION_PUBSUB_SUBSCRIBER_HOLD_SECONDS", "0.5")
    monkeypatch.setenv("FASHION_PUBSUB_SUBSCRIBER_MAX_BACKOFF_SECONDS", "0.5")
    port = free_port()
    lane.subscriber(url=f"http://127.0.0.1:{port}/v1/models/fashion-model:predict")
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish(images(data_dir, 5)))
    time.sleep(20)  # the outage: forty holds, and time for the policy's redeliveries
    server = start_server(port, lane.root / "late-server.log")
    try:
        records = lane.wait_for_records(5, seconds=60)
    finally:
        stop(server)
    assert sorted(str(r["source_file"]) for r in records) == [f"{i}.png" for i in range(5)]
    assert read_dead_letters(lane, 1, seconds=5) == []
