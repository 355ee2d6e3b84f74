"""The subscriber's file and server I/O failures, on the in-memory broker: a full disk
and an unusable model-server answer are failures of the machine, never of the images."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fashion_pubsub.pipeline import results
from fashion_pubsub.serving.errors import ServingResponseError
from tests.support.subscriber_rig import Rig, valid


@pytest.fixture(params=["kafka", "pubsub"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, flavour=request.param)
    yield rig
    rig.close()


def test_a_full_disk_for_the_results_log_dead_letters_nothing_and_loses_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first appends make no progress (ENOSPC), then the disk has room again. (Fewer
    than Pub/Sub's 5 delivery attempts: each failure gives the batch back.)"""
    real_write = os.write
    full = {"appends": 2}

    def write(fd: int, data: Any) -> int:
        if full["appends"] > 0:
            full["appends"] -= 1
            return 0
        return real_write(fd, data)

    monkeypatch.setattr(results.os, "write", write)
    rig.publish(*(valid(n) for n in range(6)))
    rig.run()
    assert full["appends"] == 0, "the disk was full for a while"
    assert sorted(str(r["image_id"]) for r in rig.records()) == sorted(
        valid(n).key for n in range(6)
    )
    assert rig.dead_letters() == []


def test_an_unusable_model_answer_is_held_like_an_outage_not_dead_lettered(rig: Rig) -> None:
    rig.client.script = [ServingResponseError("answered NaN probabilities")] * 3
    rig.publish(*(valid(n) for n in range(4)))
    rig.run()
    assert len(rig.records()) == 4 and rig.dead_letters() == []
