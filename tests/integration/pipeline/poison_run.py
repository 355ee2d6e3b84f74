"""Issue 13's acceptance run, shared by the test and by
`python -m tests.integration.pipeline.poison_overhead`: 1,000
valid images dropped into the input folder of the real `publish` and `subscribe`, with
(optionally) 20 poison files among them and 50 poison messages produced straight onto
the input topic while the publisher sends the valid ones."""

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

import numpy as np
from confluent_kafka import Producer
from PIL import Image

from fashion_pubsub.brokers.base import Message, OutgoingMessage
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.data.png import png_bytes
from fashion_pubsub.pipeline.wire import encode

from .conftest import Lane
from .test_bad_files import content, saved, sparse
from .test_poison_isolation import read_dead_letters
from .test_poison_messages import Sent, _poison

VALID = 1000
POISON_MESSAGES = 50
POISON_FILES = 20
RUN_FOLDERS = {"input", "published", "rejected", "output", "outside"}
RUN_FILES = {"results.jsonl", "subscriber.log", "publisher.log"}


@dataclass
class Outcome:
    """What one run left behind, and how long it took."""

    elapsed: float
    recorded_after: float  # until the last valid image was recorded
    records: list[dict[str, object]]
    dead_letters: list[Message]
    poison_messages: list[Sent] = field(default_factory=list)
    poison_files: list[str] = field(default_factory=list)


def _bad_file_makers(pixels: np.ndarray, outside: Path) -> dict[str, Callable[[Path], None]]:
    """The kinds of test_bad_files.py that are rejected with a note in rejected/ (not
    those published losslessly, nor those left in the input folder)."""
    good = png_bytes(pixels[0], 0)
    return {
        "empty": content(b""),
        "truncated": content(good[:200]),
        "text": content(b"this is not an image\n"),
        "deep16": content(saved(Image.new("I;16", (28, 28)))),
        "rgb32": content(saved(Image.new("RGB", (32, 32), "red"))),
        "gif": content(saved(Image.fromarray(pixels[1]), "GIF")),
        "big": sparse(50 * 1024 * 1024),
        "link": lambda path: path.symlink_to(outside / "target.png"),
    }


def _poison_messages(lane: Lane, pixels: np.ndarray, labels: np.ndarray) -> list[Sent]:
    """50 bad messages: test_poison_messages.py's kinds, cycled, each round built on
    another image (images 9000+, not among the valid ones) so no two are alike."""
    kafka = lane.broker_name == "apache-kafka"
    found: list[Sent] = []
    for round_ in range(POISON_MESSAGES):
        now = time.time()
        message = encode(pixels[9000 + round_], f"t{round_}.png", int(labels[round_]), now, now)
        template = Sent(message.key, message.payload, dict(message.attributes))
        for bad in _poison(template):
            if kafka or not bad.kafka_only:
                found.append(Sent(f"{bad.key}-{round_}", bad.body, bad.attributes, bad.kafka_only))
            if len(found) == POISON_MESSAGES:
                return found
    return found


class _RawSender:
    """Produces bad messages onto the input topic directly, as any client could: raw
    on Kafka (our publisher cannot send headers that are not UTF-8)."""

    def __init__(self, lane: Lane) -> None:
        self.topic = lane.topics.input_topic
        self.errors: list[object] = []
        self.stack = ExitStack()
        self.kafka = self.pubsub = None
        if lane.broker_name == "apache-kafka":
            self.kafka = Producer({"bootstrap.servers": lane.address})
        else:
            self.pubsub = self.stack.enter_context(lane.broker().publisher(self.topic))

    def send(self, message: Sent) -> None:
        if self.kafka is not None:
            self.kafka.produce(
                self.topic,
                key=message.key.encode(),
                value=message.body,
                headers=list(message.attributes.items()),
                on_delivery=lambda error, _: self.errors.append(error) if error else None,
            )
            self.kafka.poll(0)
        elif self.pubsub is not None:
            attributes = {k: str(v) for k, v in message.attributes.items()}
            outgoing = OutgoingMessage(message.key, message.body, attributes)
            self.errors += [r.error for r in self.pubsub.publish([outgoing]) if not r.ok]

    def close(self) -> None:
        self.stack.close()
        unsent = self.kafka.flush(30) if self.kafka is not None else 0
        assert unsent == 0 and not self.errors, self.errors


def _schedule(count: int) -> Iterator[bool]:
    """True at `count` of the 1,000 steps, spread evenly."""
    step = VALID // count
    return (i % step == step // 2 and i // step < count for i in range(VALID))


def run(lane: Lane, data_dir: Path, poison: bool) -> Outcome:
    """Start both processes, drop the files (and send the bad messages), and wait until
    every valid image is recorded and every poison file has its note.

    Args:
        lane: a fresh lane whose topics exist.
        data_dir: the Fashion-MNIST files.
        poison: whether to add the 20 poison files and 50 poison messages.
    """
    test = load_split(data_dir, "test")
    inbox, outside = lane.folder("input"), lane.folder("outside")
    inbox.mkdir(parents=True)
    outside.mkdir()
    (outside / "target.png").write_bytes(png_bytes(test.images[0], 0))
    makers = cycle(_bad_file_makers(test.images, outside).items())
    messages = _poison_messages(lane, test.images, test.labels) if poison else []
    pending = iter(messages)
    files_at = list(_schedule(POISON_FILES)) if poison else [False] * VALID
    messages_at = list(_schedule(POISON_MESSAGES)) if poison else [False] * VALID
    sender = _RawSender(lane)
    bad_files: list[str] = []
    lane.subscriber()
    lane.publisher()
    start = time.monotonic()
    for i in range(VALID):
        (inbox / f"{i:04d}.png").write_bytes(png_bytes(test.images[i], int(test.labels[i])))
        if files_at[i]:
            kind, make = next(makers)
            bad_files.append(f"bad-{len(bad_files):02d}-{kind}.png")
            make(inbox / bad_files[-1])
        if messages_at[i]:
            sender.send(next(pending))
    sender.close()
    lane.wait_for_records(VALID, seconds=600)
    recorded_after = time.monotonic() - start
    notes = {f"{name}.reason" for name in bad_files}
    deadline = time.monotonic() + 120
    while not notes <= _entries(lane.folder("rejected")) and time.monotonic() < deadline:
        time.sleep(0.1)
    elapsed = time.monotonic() - start
    dead = read_dead_letters(lane, len(messages) + 1, seconds=30 if messages else 5)
    time.sleep(2)  # anything extra (a duplicate, a late dead letter) would show by now
    return Outcome(elapsed, recorded_after, lane.records(), dead, messages, bad_files)


def _entries(folder: Path) -> set[str]:
    return set(os.listdir(folder)) if folder.exists() else set()


def check(lane: Lane, outcome: Outcome) -> None:
    """Exactly one output per valid image inside the output folder, one dead letter with
    a reason per poison message, one note per poison file, both processes alive, nothing
    written anywhere else."""
    records = outcome.records
    assert sorted(str(r["source_file"]) for r in records) == [f"{i:04d}.png" for i in range(VALID)]
    assert len({r["image_id"] for r in records}) == VALID
    output = lane.folder("output")
    assert sorted(p.name for p in output.iterdir()) == sorted(
        str(r["output_file"]) for r in records
    )
    assert all(p.is_file() and not p.is_symlink() for p in output.iterdir())

    reasons = {m.key: m.attributes.get("dead_letter_reason", "") for m in outcome.dead_letters}
    assert len(outcome.dead_letters) == len(outcome.poison_messages), "each bad message, once"
    assert sorted(reasons) == sorted(m.key for m in outcome.poison_messages)
    assert all(reasons.values()), {k: v for k, v in reasons.items() if not v}

    rejected = lane.folder("rejected")
    entries = _entries(rejected)
    notes = {n for n in entries if n.endswith(".reason")}
    assert notes == {f"{name}.reason" for name in outcome.poison_files}
    assert entries - notes <= set(outcome.poison_files), entries - notes
    assert all((rejected / n).read_text().strip() for n in notes)

    assert os.listdir(lane.folder("input")) == [], "the input folder drains"
    assert len(os.listdir(lane.folder("published"))) == VALID
    assert sorted(os.listdir(lane.folder("outside"))) == ["target.png"]
    assert [p.poll() for p in lane.processes] == [None, None], f"a process died: {lane.logs()}"
    assert {p.name for p in lane.root.iterdir()} <= RUN_FOLDERS | RUN_FILES
