"""The Pub/Sub consumer's acks, nacks and extensions go out behind the subscriber's
loop, in order, and `close` sends them (waiting a few seconds at most)."""

import logging
import threading
import time
from typing import Any

import pytest
from google.api_core import retry

from fashion_pubsub.brokers import pubsub
from fashion_pubsub.brokers.base import Message
from fashion_pubsub.brokers.pubsub import PubSubConsumer
from fashion_pubsub.settings import PubSubSettings, TopicSettings
from tests.conftest import free_port


class _SlowService:
    """Records each settle call; the first one waits until released."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.calls: list[tuple[str, list[str]]] = []

    def acknowledge(self, subscription: str, ack_ids: list[str], **_: Any) -> None:
        self.released.wait(10)
        self.calls.append(("ack", ack_ids))

    def modify_ack_deadline(
        self, subscription: str, ack_ids: list[str], ack_deadline_seconds: int, **_: Any
    ) -> None:
        self.calls.append((f"deadline {ack_deadline_seconds}", ack_ids))


def _message(ack_id: str) -> Message:
    return Message(b"", {}, None, delivery_attempt=1, position=ack_id, handle=ack_id)


def test_an_ack_does_not_hold_the_caller_and_close_sends_every_settle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = PubSubConsumer(
        PubSubSettings(emulator_host=f"127.0.0.1:{free_port()}"), TopicSettings(), None
    )
    service = _SlowService()
    for name in ("acknowledge", "modify_ack_deadline"):
        monkeypatch.setattr(consumer._client, name, getattr(service, name))
    caller = threading.Thread(target=consumer.ack, args=([_message("a1"), _message("a2")],))
    caller.start()
    caller.join(2)
    assert not caller.is_alive(), "the ack is sent behind the caller's back"
    consumer.nack([_message("n1")])
    assert service.calls == []
    service.released.set()
    consumer.close()
    assert service.calls == [("ack", ["a1", "a2"]), ("deadline 0", ["n1"])]


def test_stopping_while_the_service_is_down_takes_seconds_not_minutes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The client's own policy retried an ack for 60 s, and the subscriber's stop waited
    for it; an ack left unsent only means the message comes again, recognised."""
    monkeypatch.setattr(pubsub, "_SETTLE_RETRY", retry.Retry(timeout=1.0))
    monkeypatch.setattr(pubsub, "_SETTLE_PATIENCE_SECONDS", 0.3)
    consumer = PubSubConsumer(
        PubSubSettings(emulator_host=f"127.0.0.1:{free_port()}"), TopicSettings(), None
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        consumer.ack([_message("a1")])
        consumer.close()
    assert time.monotonic() - started < 3
    assert "settles_unsent" in caplog.text or "ack_failed" in caplog.text
