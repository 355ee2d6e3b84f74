"""Adaptive batching: what is waiting goes at once; only behind a backlog (an eighth of a
batch waiting) may a batch wait `max_wait` to fill, and in the publisher also in a steady
stream of files closer together than `stream_wait`. And the publisher dates each file
from its arrival."""

import os
import queue
import threading
import time
from pathlib import Path

import numpy as np

from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.data.convert import png_bytes
from fashion_pubsub.pipeline.batching import StreamPace
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


def test_a_publisher_behind_a_backlog_lets_a_batch_fill_for_up_to_max_wait(
    tmp_path: Path,
) -> None:
    publisher, _ = _publisher(tmp_path, batch_size=16, max_wait_seconds=0.2)
    paths = [tmp_path / f"{n}.png" for n in range(2)]  # 16 // 8: a backlog
    ready = _queued(publisher, paths)
    assert publisher._next_batch(threading.Event()) == paths
    assert max(t for t in ready.timeouts if t is not None) > 0.1


def test_a_few_files_waiting_go_at_once_whatever_the_max_wait(tmp_path: Path) -> None:
    # A steady stream: each look finds a few files, fewer than an eighth of a batch.
    publisher, _ = _publisher(tmp_path, batch_size=500, max_wait_seconds=1.0)
    paths = [tmp_path / f"{n}.png" for n in range(5)]
    ready = _queued(publisher, paths)
    assert publisher._next_batch(threading.Event()) == paths
    assert all(t == 0 for t in ready.timeouts)


def test_in_a_steady_stream_a_batch_waits_for_the_next_file(tmp_path: Path) -> None:
    # The batch before just started: files are coming closer together than the stream
    # wait, so the next batch waits for company (up to a full batch of two).
    publisher, _ = _publisher(tmp_path, batch_size=2, max_wait_seconds=0, stream_wait_seconds=60)
    first, second, third = (tmp_path / f"{n}.png" for n in range(3))
    ready = _queued(publisher, [first])
    assert publisher._next_batch(threading.Event()) == [first]
    ready.put(second)
    late = threading.Timer(0.05, ready.put, args=(third,))
    late.start()
    assert publisher._next_batch(threading.Event()) == [second, third]
    late.join()


def test_a_stream_pace_waits_only_while_items_come_closer_than_the_stream_wait() -> None:
    pace = StreamPace(stream_wait=0.002)
    assert pace.window(100.0) == 0  # nothing came before: at once
    pace.taken(100.0, size=3)
    assert pace.window(100.003) == 0.002  # three in 3 ms: 1 ms apart
    assert pace.window(100.009) == 0  # three in 9 ms: 3 ms apart
    pace.taken(100.009, size=1)
    assert pace.window(101.0) == 0  # after a pause the first goes at once
    never = StreamPace(stream_wait=0)
    never.taken(100.0, size=500)
    assert never.window(100.0001) == 0


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


def test_a_few_messages_waiting_are_handled_at_once_whatever_the_max_wait(
    tmp_path: Path,
) -> None:
    # Three waiting are fewer than an eighth of a batch of 256: the late two are not
    # waited for.
    taken = _first_step_while_two_arrive_late(tmp_path, batch_size=256, max_wait_seconds=2.0)
    assert taken == 3
