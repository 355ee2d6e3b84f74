"""Adaptive batching: a quiet pipeline sends each item at once; batches grow only with
what is already waiting (unless a max wait is set). And the publisher dates each file
from its arrival."""

import os
import queue
import threading
import time
from pathlib import Path

import numpy as np

from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.data.convert import png_bytes
from fashion_pubsub.pipeline.publisher import FilePublisher
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.settings import PublisherSettings, TopicSettings
from tests.support.subscriber_rig import Rig, valid


class _RecordingQueue(queue.Queue[Path]):
    """Records the timeout of every `get` (0 for a non-blocking one). `idle`: the first
    non-blocking `get` finds nothing, as when the folder was quiet when asked."""

    def __init__(self, idle: bool = False) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []
        self._idle = idle

    def get(self, block: bool = True, timeout: float | None = None) -> Path:
        self.timeouts.append(timeout if block else 0.0)
        if not block and self._idle:
            self._idle = False
            raise queue.Empty
        return super().get(block, timeout)


def _publisher(tmp_path: Path, **changes: object) -> tuple[FilePublisher, MemoryBroker]:
    broker = MemoryBroker(TopicSettings())
    broker.ensure_topics()
    settings = PublisherSettings(
        input_dir=tmp_path / "in",
        published_dir=tmp_path / "published",
        rejected_dir=tmp_path / "rejected",
        **changes,  # type: ignore[arg-type]
    )
    settings.input_dir.mkdir()
    return FilePublisher(broker.publisher(broker.topics.input_topic), settings, Stats()), broker


def _queued(publisher: FilePublisher, paths: list[Path], idle: bool = False) -> _RecordingQueue:
    ready = _RecordingQueue(idle)
    for path in paths:
        ready.put(path)
    publisher._ready = ready
    return ready


def test_an_idle_publisher_sends_a_file_at_once_whatever_its_max_wait(tmp_path: Path) -> None:
    publisher, _ = _publisher(tmp_path, max_wait_seconds=60)
    ready = _queued(publisher, [tmp_path / "a.png"], idle=True)
    assert publisher._next_batch(threading.Event()) == [tmp_path / "a.png"]
    # Nothing was waiting when it asked: it waited for the first file only, then for none.
    assert ready.timeouts[:2] == [0.0, 0.5] and all(t == 0 for t in ready.timeouts[2:])


def test_a_busy_publisher_lets_a_batch_fill_for_up_to_max_wait(tmp_path: Path) -> None:
    publisher, _ = _publisher(tmp_path, max_wait_seconds=0.2)
    ready = _queued(publisher, [tmp_path / "a.png"])
    assert publisher._next_batch(threading.Event()) == [tmp_path / "a.png"]
    assert max(t for t in ready.timeouts if t is not None) > 0.1


def test_a_batch_takes_what_is_waiting_up_to_the_batch_size(tmp_path: Path) -> None:
    publisher, _ = _publisher(tmp_path, batch_size=4, max_wait_seconds=0)
    paths = [tmp_path / f"{n}.png" for n in range(6)]
    _queued(publisher, [*paths[:3], paths[0], *paths[3:]])  # one announced twice
    assert publisher._next_batch(threading.Event()) == paths[:4]
    assert publisher._next_batch(threading.Event()) == paths[4:]


def test_a_file_is_dated_from_its_arrival_in_the_folder_not_its_pickup(tmp_path: Path) -> None:
    publisher, broker = _publisher(tmp_path)
    path = publisher._settings.input_dir / "7.png"
    path.write_bytes(png_bytes(np.zeros((28, 28), dtype=np.uint8), 7))
    arrived = os.stat(path).st_ctime
    publisher.publish_files([path])
    [message] = broker.messages(broker.topics.input_topic)
    assert float(message.attributes["arrived_at"]) == round(arrived, 6)
    assert float(message.attributes["seen_at"]) >= float(message.attributes["arrived_at"])


def test_a_receive_returns_what_is_waiting_without_waiting_for_a_full_batch(
    tmp_path: Path,
) -> None:
    publisher, broker = _publisher(tmp_path)
    consumer = broker.consumer()
    for n in range(3):
        path = publisher._settings.input_dir / f"{n}.png"
        path.write_bytes(png_bytes(np.full((28, 28), n, dtype=np.uint8), n))
    publisher.publish_files(sorted(publisher._settings.input_dir.iterdir()))
    # A receive that waited to fill 256 would take the whole hour.
    assert len(consumer.receive(256, timeout=3600)) == 3


def _late(rig: Rig, numbers: range, after: float) -> threading.Thread:
    def publish() -> None:
        time.sleep(after)
        rig.publish(*(valid(n) for n in numbers))

    thread = threading.Thread(target=publish)
    thread.start()
    return thread


def _first_step_while_two_arrive_late(tmp_path: Path, **changes: float) -> int:
    """Three images waiting and two more 50 ms later: how many the subscriber's first step
    (batches of up to five) takes."""
    rig = Rig(tmp_path, settings_changes={"batch_size": 5, **changes})
    try:
        rig.publish(*(valid(n) for n in range(3)))
        late = _late(rig, range(3, 5), after=0.05)
        taken = rig.subscriber.step(rig.stop)
        late.join()
        return taken
    finally:
        rig.close()


def test_the_subscriber_takes_what_is_waiting_without_waiting_for_more(tmp_path: Path) -> None:
    assert _first_step_while_two_arrive_late(tmp_path) == 3


def test_a_subscriber_max_wait_waits_for_the_batch_to_fill(tmp_path: Path) -> None:
    # A 60 s window that ends as soon as the batch is full: the late two join the three.
    assert _first_step_while_two_arrive_late(tmp_path, max_wait_seconds=60) == 5
