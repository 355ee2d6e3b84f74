"""The Pub/Sub consumer's pause after an empty pull: short while messages flow, growing
only once the subscription has been quiet for a while (so a steady stream is not held)."""

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from fashion_pubsub.brokers import pubsub
from fashion_pubsub.brokers.pubsub import PubSubConsumer
from tests.support.fakes import ManualClock


class _Scripted:
    def __init__(self, answers: list[list[Any]]) -> None:
        self.answers = answers

    def __call__(self, max_messages: int, timeout: float) -> list[Any]:
        return self.answers.pop(0) if self.answers else []


def _consumer(
    answers: list[list[Any]], monkeypatch: pytest.MonkeyPatch
) -> tuple[PubSubConsumer, list[float]]:
    consumer = PubSubConsumer.__new__(PubSubConsumer)  # no client: only the pull loop runs
    consumer._idle_pause = pubsub._EMPTY_PULL_PAUSE_SECONDS
    consumer._last_message = 0.0
    monkeypatch.setattr(consumer, "_pull", _Scripted(answers))
    monkeypatch.setattr(consumer, "_to_message", lambda received: received)
    pauses: list[float] = []
    monkeypatch.setattr(pubsub.time, "sleep", pauses.append)
    return consumer, pauses


def test_the_pause_stays_short_between_the_messages_of_a_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, pauses = _consumer([["m1"], [], [], [], [], ["m2"]], monkeypatch)
    assert consumer.receive(10, timeout=3600) == ["m1"]
    assert consumer.receive(10, timeout=3600) == ["m2"]
    assert pauses == [pubsub._EMPTY_PULL_PAUSE_SECONDS] * 4


def test_the_pause_grows_once_the_subscription_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    consumer, pauses = _consumer([[]] * 6 + [["m"]], monkeypatch)
    consumer._last_message = time.monotonic() - 2 * pubsub._QUIET_SECONDS
    assert consumer.receive(10, timeout=3600) == ["m"]
    assert pauses == [0.005, 0.01, 0.02, 0.04, 0.05, 0.05]
    assert consumer._idle_pause == pubsub._EMPTY_PULL_PAUSE_SECONDS  # a message resets it


@dataclass
class _Clock(ManualClock):
    """time.monotonic and time.sleep on a clock that moves only when slept on."""

    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.advance(seconds)


def test_a_caller_filling_a_batch_is_not_held_past_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The subscriber waits up to 5 ms for more behind a backlog; an empty pull then
    paused 5 ms whatever was left of that window (pull time included, ~2.6 ms on the
    emulator at 2,600 images/s), on every batch."""
    consumer, _ = _consumer([[]] * 10, monkeypatch)
    clock = _Clock()
    monkeypatch.setattr(pubsub, "time", clock)
    consumer._last_message = clock.now
    assert consumer.receive(10, timeout=0.002) == []
    assert clock.slept == [0.002]


def test_a_look_without_a_timeout_and_a_quiet_subscription_pause_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, _ = _consumer([[]] * 10, monkeypatch)
    clock = _Clock()
    monkeypatch.setattr(pubsub, "time", clock)
    consumer._last_message = clock.now
    assert consumer.receive(10, timeout=0) == []
    consumer._idle_pause = 0.04  # grown: nothing has come for a while
    assert consumer.receive(10, timeout=0.002) == []
    assert clock.slept == [pubsub._EMPTY_PULL_PAUSE_SECONDS, 0.04]
