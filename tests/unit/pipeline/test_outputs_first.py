"""A classified batch's output files are written at once, while the batch before is still
being published (and, in exactly-once mode, committed): a file never waits for the broker.
The order per image stays file, prediction, log line, and nothing is lost or doubled."""

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from fashion_pubsub.brokers.base import OutgoingMessage, Publisher, PublishResult
from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.settings import SubscriberSettings, TopicSettings
from tests.support.fakes import FakeModelClient
from tests.support.subscriber_rig import valid

_PATIENCE_SECONDS = 20.0  # how long the held publish waits for the next batch's files


class _HeldPublisher(Publisher):
    """Holds its first publish until the output files of `awaited` exist (or patience
    runs out), and says whether they did while it was held."""

    def __init__(self, inner: Publisher, folder: Path, awaited: list[str]) -> None:
        self._inner = inner
        self._folder = folder
        self._awaited = awaited
        self.calls = 0
        self.files_while_held: bool | None = None

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        self.calls += 1
        if self.calls == 1:
            deadline = time.monotonic() + _PATIENCE_SECONDS
            while not self._all_written() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.files_while_held = self._all_written()
        return self._inner.publish(messages)

    def _all_written(self) -> bool:
        stems = {p.name.split("-")[0] for p in self._folder.glob("*.png")}
        return all(name.removesuffix(".png") in stems for name in self._awaited)

    def close(self) -> None:
        self._inner.close()


@contextmanager
def _channels(broker: MemoryBroker, held: _HeldPublisher, exactly_once: bool) -> Iterator[Channels]:
    topics = broker.topics
    if not exactly_once:
        yield Channels(broker.consumer(), held, broker.publisher(topics.dead_letter_topic))
        return
    with broker.transactional_session("unit") as session:
        held._inner = session.publisher(topics.predictions_topic)
        yield Channels(session.consumer, held, session.publisher(topics.dead_letter_topic), session)


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
def test_a_batch_is_written_while_the_batch_before_waits_for_the_broker(
    tmp_path: Path, exactly_once: bool
) -> None:
    broker = MemoryBroker(TopicSettings(), flavour="kafka", partitions=1)
    broker.ensure_topics()
    settings = SubscriberSettings(output_dir=tmp_path / "out", batch_size=2, max_wait_seconds=0)
    with broker.publisher(broker.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish([valid(n) for n in range(4)]))
    predictions = broker.publisher(broker.topics.predictions_topic)
    held = _HeldPublisher(predictions, settings.output_dir, ["2.png", "3.png"])
    with _channels(broker, held, exactly_once) as channels:
        subscriber = ImageSubscriber(channels, FakeModelClient(), settings, Stats())  # type: ignore[arg-type]
        subscriber.start()
        stop = threading.Event()
        try:
            assert subscriber.step(stop) == 2  # 0 and 1: their predictions are held
            assert subscriber.step(stop) == 2  # 2 and 3: classified, then written
            subscriber.step(stop)  # settles the last batch
        finally:
            subscriber.close()
    assert held.files_while_held is True
    log = settings.results_path().read_bytes().splitlines()
    assert sorted(orjson.loads(line)["source_file"] for line in log) == [
        f"{n}.png" for n in range(4)
    ]
    assert len(broker.messages(broker.topics.predictions_topic)) == 4
    assert broker.unfinished() == 0
