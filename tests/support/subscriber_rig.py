"""A subscriber on the in-memory broker and the fake model client, stepped batch by batch
in the test's thread (its writer thread still runs beside it, as in production)."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from fashion_pubsub.brokers.base import Consumer, Message, OutgoingMessage, Publisher
from fashion_pubsub.brokers.memory import Flavour, MemoryBroker
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.pipeline.wire import encode
from fashion_pubsub.settings import SubscriberSettings, TopicSettings
from tests.support.fakes import FakeModelClient


def image(number: int) -> np.ndarray:
    """A distinct 28x28 image whose first pixel (the fake's label) is `number % 10`."""
    pixels = np.full((28, 28), number // 10 % 256, dtype=np.uint8)
    pixels[0, 0] = number % 10
    pixels[27, 27] = number % 251
    return pixels


def valid(number: int, name: str | None = None) -> OutgoingMessage:
    return encode(image(number), name or f"{number}.png", number % 10, 1.0e9, 1.0e9 + 1)


@dataclass
class Rig:
    """Broker, fake model client, settings and a started subscriber."""

    root: Path
    flavour: Flavour = "kafka"
    partitions: int = 1
    client: FakeModelClient = field(default_factory=FakeModelClient)
    settings_changes: dict[str, object] = field(default_factory=dict)
    broker_options: dict[str, object] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.broker = MemoryBroker(
            TopicSettings(),
            flavour=self.flavour,
            partitions=self.partitions,
            **self.broker_options,  # type: ignore[arg-type]
        )
        self.broker.ensure_topics()
        defaults: dict[str, object] = {
            "max_wait_seconds": 0,
            "max_backoff_seconds": 0.001,
            "hold_seconds": 0.001,
        }
        self.settings = SubscriberSettings(
            output_dir=self.root / "output",
            **{**defaults, **self.settings_changes},  # type: ignore[arg-type]
        )
        self.stats = Stats()
        self.input: Publisher = self.broker.publisher(self.broker.topics.input_topic)
        self.consumer: Consumer = self.broker.consumer()
        self.subscriber = self.subscriber_on(self.consumer)

    def subscriber_on(self, consumer: Consumer) -> ImageSubscriber:
        channels = Channels(
            consumer=consumer,
            predictions=self.broker.publisher(self.broker.topics.predictions_topic),
            dead_letters=self.broker.publisher(self.broker.topics.dead_letter_topic),
        )
        subscriber = ImageSubscriber(channels, self.client, self.settings, self.stats)
        subscriber.start()
        return subscriber

    def publish(self, *messages: OutgoingMessage) -> None:
        assert all(r.ok for r in self.input.publish(messages))

    def run(self, rounds: int = 200) -> None:
        """Step until every input message is acknowledged and the writer is idle (at most
        `rounds` steps: a subscriber that makes no progress fails the test)."""
        for _ in range(rounds):
            self.subscriber.step(self.stop)
            if self.broker.unfinished() == 0:
                self.subscriber.step(self.stop)  # settles the last batch's bookkeeping
                return
        raise AssertionError(f"{self.broker.unfinished()} messages still unacknowledged")

    def records(self) -> list[dict[str, object]]:
        log = self.settings.results_path()
        return (
            [orjson.loads(line) for line in log.read_bytes().splitlines()] if log.exists() else []
        )

    def dead_letters(self) -> list[Message]:
        return self.broker.dead_letters()

    def predictions(self) -> list[Message]:
        return self.broker.messages(self.broker.topics.predictions_topic)

    def close(self) -> None:
        self.subscriber.close()
