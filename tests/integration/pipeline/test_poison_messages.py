"""Poison on the real brokers: the real `fashion-pubsub subscribe` and model server get
valid images interleaved with ~30 kinds of bad message on one partition.

Every valid image gets exactly one result and one output inside the output folder;
every bad message is dead-lettered with a reason; the subscriber keeps running; nothing
is written anywhere else.
"""

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.pipeline.wire import encode

from .conftest import Lane
from .test_bad_input import read_dead_letters

Header = str | bytes


@dataclass(frozen=True)
class Sent:
    """One message as sent: key, body and attributes (bytes only on Kafka)."""

    key: str
    body: bytes
    attributes: dict[str, Header] = field(default_factory=dict)
    kafka_only: bool = False


def _valid(images: np.ndarray, labels: np.ndarray, escape: Path) -> list[Sent]:
    """20 plain images, and 4 whose names try to leave the output folder."""
    names = [f"{i}.png" for i in range(20)]
    names += [f"../../../../{escape.relative_to('/')}/x.png", "...", "/etc/passwd", r"..\..\a.png"]
    now = time.time()
    sent = []
    for i, name in enumerate(names):
        message = encode(images[i], name, int(labels[i]), now, now)
        sent.append(Sent(message.key, message.payload, dict(message.attributes)))
    return sent


def _poison(template: Sent) -> list[Sent]:
    """Each required attribute missing, malformed or hostile; bodies of the wrong size,
    shape and dtype; path-like ids; non-UTF-8 header values (Kafka only)."""
    base, pixels = dict(template.attributes), template.body
    image_id = str(base["image_id"])

    def changed(name: str, body: bytes = pixels, **attributes: Header) -> Sent:
        return Sent(f"poison-{name}", body, {**base, **attributes})

    def without(key: str) -> Sent:
        return Sent(f"poison-missing-{key}", pixels, {k: v for k, v in base.items() if k != key})

    return [
        *(without(key) for key in ("schema", "image_id", "source_file", "shape", "dtype")),
        changed("schema-2", schema="2"),
        changed("schema-arabic-one", schema="١"),
        changed("shape-28x29", shape="28,29"),
        changed("shape-784", shape="784"),
        changed("shape-negative", shape="-28,-28"),
        changed("dtype-float32", body=pixels * 4, dtype="float32"),
        changed("dtype-uint16", body=pixels * 2, dtype="uint16"),
        changed("dtype-hostile", dtype="uint8; rm -rf /"),
        changed("label-superscript-two", true_label="²"),
        changed("label-10", true_label="10"),
        changed("label-negative", true_label="-1"),
        changed("label-1000-digits", true_label="9" * 1000),
        changed("seen-at-text", seen_at="yesterday"),
        changed("published-at-clock", published_at="12:00"),
        changed("id-path", image_id="../../../../tmp/x"),
        changed("id-uppercase", image_id=image_id.upper()),
        changed("id-31-chars", image_id=image_id[:31]),
        changed("id-with-slash", image_id=image_id[:14] + "/../" + image_id[:14]),
        changed("body-0", body=b""),
        changed("body-783", body=pixels[:783]),
        changed("body-785", body=pixels + b"\0"),
        changed("body-near-1mb", body=b"\0" * 999_500),
        Sent("poison-label-not-utf8", pixels, {**base, "true_label": b"\xff\xfe"}, True),
        Sent(
            "poison-id-not-utf8",
            pixels,
            {**base, "image_id": b"\xff" + image_id[1:].encode()},
            True,
        ),
        Sent("poison-schema-not-utf8", pixels, {**base, "schema": b"\xc3"}, True),
    ]


def _interleave(valid: list[Sent], poison: list[Sent]) -> list[Sent]:
    """valid, poison, valid, poison, ..., then the rest of the valid ones."""
    mixed: list[Sent] = []
    for i, bad in enumerate(poison):
        if i < len(valid):
            mixed.append(valid[i])
        mixed.append(bad)
    return mixed + valid[len(poison) :]


def _send_kafka(lane: Lane, messages: list[Sent]) -> None:
    """Raw, to partition 0: our publisher cannot send headers that are not UTF-8."""
    producer = Producer({"bootstrap.servers": lane.address})
    errors: list[object] = []
    for m in messages:
        producer.produce(
            lane.topics.input_topic,
            partition=0,
            key=m.key.encode(),
            value=m.body,
            headers=list(m.attributes.items()),
            on_delivery=lambda error, _: errors.append(error) if error else None,
        )
    assert producer.flush(30) == 0 and not errors, errors


def _send_pubsub(lane: Lane, messages: list[Sent]) -> None:
    outgoing = [
        OutgoingMessage(m.key, m.body, {k: str(v) for k, v in m.attributes.items()})
        for m in messages
    ]
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        results = publisher.publish(outgoing)
    assert all(r.ok for r in results), [str(r.error) for r in results if not r.ok]


def test_poison_is_dead_lettered_with_reasons_and_valid_images_all_arrive(
    lane: Lane, data_dir: Path
) -> None:
    test = load_split(data_dir, "test")
    escape = Path("/tmp") / f"fashion-poison-{uuid.uuid4().hex}"
    valid = _valid(test.images, test.labels, escape)
    poison = [
        p for p in _poison(valid[0]) if lane.broker_name == "apache-kafka" or not p.kafka_only
    ]
    assert len(poison) >= 20
    subscriber = lane.subscriber()
    mixed = _interleave(valid, poison)
    if lane.broker_name == "apache-kafka":
        _send_kafka(lane, mixed)
    else:
        _send_pubsub(lane, mixed)

    records = lane.wait_for_records(len(valid))
    dead = read_dead_letters(lane, len(poison))
    time.sleep(2)  # anything extra (a duplicate, a late dead letter) would show by now
    records = lane.records()

    assert sorted(str(r["image_id"]) for r in records) == sorted(m.key for m in valid)
    reasons = {m.key: m.attributes.get("dead_letter_reason", "") for m in dead}
    assert sorted(reasons) == sorted(p.key for p in poison), "each bad message, once"
    assert all(reasons.values()), {k: v for k, v in reasons.items() if not v}
    if lane.broker_name == "apache-kafka":  # over message.max.bytes once the reason is added
        near_1mb = next(m for m in dead if m.key == "poison-body-near-1mb")
        assert near_1mb.payload == b"" and "dropped" in near_1mb.attributes["truncated"]
    assert subscriber.poll() is None, f"the subscriber died: {lane.logs()}"

    output = lane.folder("output")
    assert sorted(p.name for p in output.iterdir()) == sorted(
        str(r["output_file"]) for r in records
    )
    assert all(p.is_file() and not p.is_symlink() for p in output.iterdir())
    assert {p.name for p in lane.root.iterdir()} <= {"output", "results.jsonl", "subscriber.log"}
    assert not escape.exists()
    assert not list(lane.root.parent.glob("*-*.png")), "nothing written beside the lane"
