"""The per-stage latency breakdown: its arithmetic, and what the subscriber records."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fashion_pubsub.brokers.base import Message
from fashion_pubsub.pipeline.latency import STAGES, Timestamps, breakdown
from fashion_pubsub.pipeline.wire import decode, encode
from fashion_pubsub.serving.client import Prediction
from tests.support.fakes import FakeModelClient
from tests.support.subscriber_rig import Rig, image

STEPS = st.lists(st.floats(0, 5, allow_nan=False), min_size=6, max_size=6)


@given(start=st.floats(1.6e9, 1.9e9, allow_nan=False), steps=STEPS)
def test_the_stages_are_the_gaps_between_timestamps_and_add_up_to_end_to_end(
    start: float, steps: list[float]
) -> None:
    points = list(np.cumsum([start, *steps]))
    latency = breakdown(Timestamps(*points))
    assert list(latency) == ["end_to_end", *STAGES]
    for stage, step in zip(STAGES, steps, strict=True):
        assert latency[stage] == pytest.approx(step * 1000, abs=0.01)
    assert sum(latency[s] for s in STAGES) == pytest.approx(latency["end_to_end"], abs=0.01)


def test_a_known_timeline() -> None:
    latency = breakdown(Timestamps(100.0, 100.002, 100.0025, 100.010, 100.011, 100.019, 100.020))
    assert latency == {
        "end_to_end": 20.0,
        "pickup": 2.0,
        "publish": 0.5,
        "broker": 7.5,
        "batch": 1.0,
        "predict": 8.0,
        "write": 1.0,
    }


def _received(pixels: np.ndarray, **times: float) -> Message:
    sent = encode(pixels, "1.png", 3, **times)
    return Message(sent.payload, sent.attributes, sent.key, 1, "t[0]@0", handle=None)


def test_a_message_carries_its_arrival_and_one_without_it_arrived_when_seen() -> None:
    pixels = image(3)
    assert decode(_received(pixels, seen_at=5.0, published_at=6.0, arrived_at=4.0)).arrived_at == 4
    old = _received(pixels, seen_at=5.0, published_at=6.0)
    assert decode(old).arrived_at == 5.0


@dataclass
class SlowClient(FakeModelClient):
    """Answers after `delay` seconds, as a model server computing would."""

    delay: float = 0.0

    def classify(self, images: np.ndarray, traceparent: str | None = None) -> Prediction:
        time.sleep(self.delay)
        return super().classify(images, traceparent)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, client=SlowClient(delay=0.02))
    yield rig
    rig.close()


def test_every_record_has_every_stage_from_the_files_arrival(rig: Rig) -> None:
    now = time.time()
    arrived, seen, published = now - 0.030, now - 0.020, now - 0.015
    rig.publish(
        *(
            encode(image(n), f"{n}.png", n % 10, seen, published, arrived_at=arrived)
            for n in range(3)
        )
    )
    rig.run()
    records = rig.records()
    assert len(records) == 3
    for record in records:
        latency = record["latency_ms"]
        assert isinstance(latency, dict)
        assert set(latency) == {"end_to_end", *STAGES}
        assert latency["pickup"] == pytest.approx(10.0, abs=0.01)
        assert latency["publish"] == pytest.approx(5.0, abs=0.01)
        assert latency["broker"] >= 15.0  # published 15 ms before the test even began
        assert latency["predict"] >= 20.0  # the model took 20 ms
        assert min(latency[s] for s in ("batch", "write")) >= 0
        assert sum(latency[s] for s in STAGES) == pytest.approx(latency["end_to_end"], abs=0.01)
        written, start = record["written_at"], record["arrived_at"]
        assert isinstance(written, float) and isinstance(start, float)
        assert latency["end_to_end"] == pytest.approx((written - start) * 1000, abs=0.01)
