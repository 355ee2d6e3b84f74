"""Issue 5's guarantees on both brokers: every image exactly once, through failures."""

import collections
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.classes import CLASS_NAMES, safe_class_name
from fashion_pubsub.demo.feeder import ImageFeeder
from tests.conftest import free_port

from .conftest import Lane, start_server, stop


def feed(lane: Lane, data_dir: Path, count: int, first: int = 0) -> None:
    ImageFeeder(data_dir, lane.folder("input"), first, count).write_all()


def check_exactly_once(
    lane: Lane, count: int, expected_labels: np.ndarray, first: int = 0
) -> list[dict[str, object]]:
    """Every input has one output named with its class and one record, nothing more."""
    records = lane.wait_for_records(count)
    time.sleep(1.0)  # anything duplicated would show up now
    records = lane.records()
    sources = [str(r["source_file"]) for r in records]
    assert sorted(sources) == sorted(f"{i}.png" for i in range(first, first + count))
    outputs = sorted(p.name for p in lane.folder("output").iterdir() if p.suffix == ".png")
    expected_outputs = sorted(
        f"{i}-{safe_class_name(CLASS_NAMES[expected_labels[i]])}.png"
        for i in range(first, first + count)
    )
    assert outputs == expected_outputs
    deadline = time.monotonic() + 30  # files move after their whole batch is confirmed
    while len(list(lane.folder("published").iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(list(lane.folder("published").iterdir())) == count
    return records


def test_2000_images_each_exactly_once_with_the_models_accuracy(
    lane: Lane, data_dir: Path, expected_labels: np.ndarray
) -> None:
    from fashion_pubsub.data.dataset import load_split

    feed(lane, data_dir, 2000)
    lane.subscriber()
    lane.publisher()
    records = check_exactly_once(lane, 2000, expected_labels)
    truth = load_split(data_dir, "test").labels[:2000]
    accuracy = float(np.mean([r["predicted_label"] == r["true_label"] for r in records]))
    assert accuracy == float(np.mean(expected_labels[:2000] == truth))
    assert all(r["true_label"] == truth[int(str(r["source_file"])[:-4])] for r in records)


def test_subscriber_killed_three_times_loses_and_duplicates_nothing(
    lane: Lane, data_dir: Path, expected_labels: np.ndarray
) -> None:
    feed(lane, data_dir, 1500)
    lane.publisher()
    for _ in range(3):
        victim = lane.subscriber()
        deadline = time.monotonic() + 60
        before = len(lane.records())
        while len(lane.records()) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    lane.subscriber()
    check_exactly_once(lane, 1500, expected_labels)


@pytest.mark.kafka
def test_kafka_at_least_once_subscriber_killed_three_times_keeps_files_and_log_exact(
    tmp_path: Path,
    kafka_bootstrap: str,
    model_server: str,
    data_dir: Path,
    expected_labels: np.ndarray,
) -> None:
    """The mode exactly-once replaced as Kafka's default still keeps its promises."""
    lane = Lane("apache-kafka", kafka_bootstrap, tmp_path, model_server, delivery="at-least-once")
    lane.broker().ensure_topics()
    try:
        test_subscriber_killed_three_times_loses_and_duplicates_nothing(
            lane, data_dir, expected_labels
        )
        assert "exactly_once=False" in (tmp_path / "subscriber.log").read_text()
    finally:
        lane.close()


def test_model_server_down_for_10_seconds_loses_nothing(
    lane: Lane, data_dir: Path, expected_labels: np.ndarray
) -> None:
    port = free_port()
    server = start_server(port, lane.root / "private-server.log")
    lane.subscriber(url=f"http://127.0.0.1:{port}/v1/models/fashion-model:predict")
    lane.publisher()
    feed(lane, data_dir, 300)
    lane.wait_for_records(1)
    stop(server)
    feed(lane, data_dir, 500, first=300)
    time.sleep(10)
    assert len(lane.records()) < 800, "results cannot appear while the server is down"
    server = start_server(port, lane.root / "private-server.log")
    try:
        check_exactly_once(lane, 800, expected_labels)
    finally:
        stop(server)


def test_two_subscribers_share_the_work_exactly_once(
    lane: Lane, data_dir: Path, expected_labels: np.ndarray
) -> None:
    lane.subscriber("subscriber-a", results="results-a.jsonl")
    lane.subscriber("subscriber-b", results="results-b.jsonl")
    time.sleep(4)  # both join before the burst, so both get a share
    feed(lane, data_dir, 2000)
    lane.publisher()
    records = check_exactly_once(lane, 2000, expected_labels)
    per_log = collections.Counter(
        path.name
        for path in lane.root.glob("results-*.jsonl")
        for _ in path.read_bytes().splitlines()
    )
    assert len(per_log) == 2 and all(n > 0 for n in per_log.values()), per_log
    assert len({r["image_id"] for r in records}) == 2000
