"""Bad files are rejected with a reason, bad messages dead-lettered with one; nothing stops."""

import io
import time
from pathlib import Path

from PIL import Image

from fashion_pubsub.brokers.base import Message, OutgoingMessage
from fashion_pubsub.brokers.factory import create_broker
from fashion_pubsub.brokers.pubsub import KEEP_SUFFIX
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.data.png import png_bytes
from fashion_pubsub.pipeline.wire import encode
from fashion_pubsub.settings import AppSettings, KafkaSettings, PubSubSettings

from .conftest import Lane


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bad_files(good: bytes) -> dict[str, bytes]:
    return {
        "empty.png": b"",
        "truncated.png": good[: len(good) // 2],
        "text.png": b"this is not an image\n",
        "rgb32.png": png_of(Image.new("RGB", (32, 32), "red")),
        "deep16.png": png_of(Image.new("I;16", (28, 28))),
        "huge.png": png_of(Image.new("L", (12000, 12000))),
    }


def test_bad_files_are_rejected_with_reasons_and_good_ones_still_flow(
    lane: Lane, data_dir: Path
) -> None:
    test = load_split(data_dir, "test")
    good = png_bytes(test.images[0], int(test.labels[0]))
    inbox = lane.folder("input")
    inbox.mkdir(parents=True)
    lane.subscriber()
    lane.publisher()
    for name, data in bad_files(good).items():
        (inbox / name).write_bytes(data)
    tricky = ["with space.png", "ünïcødé-靴.png", "a..b.png", "x..y..png"]
    for name in tricky:
        (inbox / name).write_bytes(good)
    (inbox / "..png").write_bytes(good)  # hidden: left alone, like temporary files
    records = lane.wait_for_records(len(tricky))
    deadline = time.monotonic() + 30
    rejected = lane.folder("rejected")
    while time.monotonic() < deadline and len(list(rejected.glob("*.reason"))) < 6:
        time.sleep(0.1)
    reasons = {p.name[: -len(".reason")]: p.read_text() for p in rejected.glob("*.reason")}
    assert set(reasons) == set(bad_files(good))
    assert "empty" in reasons["empty.png"]
    assert "truncated" in reasons["truncated.png"] or "damaged" in reasons["truncated.png"]
    assert "not a PNG or JPEG" in reasons["text.png"]
    assert "32x32" in reasons["rgb32.png"]
    assert "16-bit" in reasons["deep16.png"] or "mode" in reasons["deep16.png"]
    assert "12000x12000" in reasons["huge.png"] or "larger" in reasons["huge.png"]
    assert sorted(str(r["source_file"]) for r in records) == sorted(tricky)
    outputs = [p.name for p in lane.folder("output").iterdir() if p.suffix == ".png"]
    assert all(Path(lane.folder("output"), o).parent == lane.folder("output") for o in outputs)
    assert [p.poll() for p in lane.processes] == [None, None], "both processes keep running"
    assert (inbox / "..png").exists()


def test_bad_messages_are_dead_lettered_with_reasons(lane: Lane, data_dir: Path) -> None:
    test = load_split(data_dir, "test")
    good = encode(test.images[1], "1.png", int(test.labels[1]), time.time(), time.time())
    traversal = encode(test.images[2], "../../../etc/evil.png", None, time.time(), time.time())
    bad = [
        OutgoingMessage("garbage", b"\x00\xffgarbage", {"schema": "1"}),
        OutgoingMessage("short", good.payload[:100], dict(good.attributes)),
        OutgoingMessage("bare", good.payload, {}),
    ]
    lane.subscriber()
    broker = lane.broker()
    with broker.publisher(lane.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish([*bad, traversal, good]))
    records = lane.wait_for_records(2)
    assert sorted(str(r["source_file"]) for r in records) == ["../../../etc/evil.png", "1.png"]
    evil = next(r for r in records if r["source_file"] == "../../../etc/evil.png")
    assert (
        "/" not in str(evil["output_file"])
        and (lane.folder("output") / str(evil["output_file"])).is_file()
    )
    assert not list(lane.root.parent.glob("etc/evil*"))
    dead = read_dead_letters(lane, 3)
    assert sorted(m.key or "" for m in dead) == ["bare", "garbage", "short"]
    reasons = {m.key: m.attributes["dead_letter_reason"] for m in dead}
    assert "missing attribute" in reasons["garbage"] and "missing" in reasons["bare"]
    assert "784" in reasons["short"]
    assert lane.processes[0].poll() is None


def read_dead_letters(lane: Lane, count: int, seconds: float = 30.0) -> list[Message]:
    """Up to `count` messages of the dead-letter topic, read for at most `seconds` (on
    Pub/Sub through the `-keep` subscription that init-brokers creates for it)."""
    topics = lane.topics.model_copy(
        update={
            "input_topic": lane.topics.dead_letter_topic,
            "subscription": lane.topics.dead_letter_topic + KEEP_SUFFIX,
            "consumer_group": lane.topics.consumer_group + "-dead-letters",
        }
    )
    broker = create_broker(
        AppSettings(broker=lane.broker_name),
        KafkaSettings(bootstrap=lane.address),
        PubSubSettings(emulator_host=lane.address),
        topics,
    )
    found: list[Message] = []
    with broker.consumer() as consumer:
        deadline = time.monotonic() + seconds
        while len(found) < count and time.monotonic() < deadline:
            batch = consumer.receive(10, 1.0)
            consumer.ack(batch)
            found += batch
    return found
