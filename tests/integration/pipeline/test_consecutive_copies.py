"""Copies of one image in consecutive batches, which the subscriber has in flight together
(one being recorded while the next is classified), still give one record and one file."""

import time
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.classes import CLASS_NAMES, safe_class_name
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.pipeline.wire import encode

from .conftest import Lane

COPIES = 5
IMAGES = 4


def test_copies_in_consecutive_batches_are_recorded_once(
    lane: Lane, data_dir: Path, expected_labels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHION_PUBSUB_SUBSCRIBER_BATCH_SIZE", "1")  # one message per batch
    test = load_split(data_dir, "test")
    now = time.time()
    copies = [
        encode(test.images[i], f"{i}.png", int(test.labels[i]), seen_at=now, published_at=now)
        for i in range(IMAGES)
        for _ in range(COPIES)
    ]
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        assert all(result.ok for result in publisher.publish(copies))
    lane.subscriber()
    lane.wait_for_records(IMAGES)
    time.sleep(3.0)  # the remaining copies take well under a second at one per batch
    sources = sorted(str(r["source_file"]) for r in lane.records())
    assert sources == [f"{i}.png" for i in range(IMAGES)]
    outputs = sorted(p.name for p in lane.folder("output").iterdir() if p.suffix == ".png")
    assert outputs == sorted(
        f"{i}-{safe_class_name(CLASS_NAMES[expected_labels[i]])}.png" for i in range(IMAGES)
    )
