"""librdkafka's log and errors go through our log, each repeated line held back; a
Pub/Sub subscriber survives failing pulls."""

import logging
import re
import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.brokers.kafka import KafkaBroker
from fashion_pubsub.brokers.kafka_logs import RepeatFilter
from fashion_pubsub.brokers.pubsub import PubSubConsumer
from fashion_pubsub.settings import KafkaSettings, PubSubSettings, TopicSettings
from tests.conftest import free_port
from tests.support.fakes import ManualClock


def test_a_repeated_event_passes_once_per_interval_with_the_count_held_back() -> None:
    clock = ManualClock(now=0.0)
    repeats = RepeatFilter(interval=30, clock=clock)
    assert repeats.admit("FAIL", "Connect to 127.0.0.1:9092 failed (after 0ms)") == 0
    for ms in range(1, 50):
        clock.now += 0.05
        assert repeats.admit("FAIL", f"Connect to 127.0.0.1:9092 failed (after {ms}ms)") is None
    assert repeats.admit("FAIL", "another message") == 0
    clock.now = 30.1
    assert repeats.admit("FAIL", "Connect to 127.0.0.1:9092 failed (after 3ms)") == 49


@pytest.mark.parametrize("client", ["producer", "consumer", "admin"])
def test_a_broker_outage_does_not_flood_the_log(
    client: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on the port: librdkafka retries the connection many times a second.
    It used to print each failure to stderr itself."""
    settings = KafkaSettings(bootstrap=f"127.0.0.1:{free_port()}")
    broker = KafkaBroker(settings, TopicSettings())
    caplog.set_level(logging.INFO, logger="fashion_pubsub")
    deadline = time.monotonic() + 3
    if client == "producer":
        publisher = broker.publisher("t")
        producer: Any = publisher._producer  # type: ignore[attr-defined] # poll serves the log
        producer.produce("t", b"x")
        while time.monotonic() < deadline:
            producer.poll(0.1)
    elif client == "consumer":
        with broker.consumer() as consumer:
            while time.monotonic() < deadline:
                consumer.receive(10, 0.1)
    else:
        with pytest.raises(Exception, match="did not answer"):
            broker.ensure_topics()
    client_lines = [r for r in caplog.records if r.name == "fashion_pubsub.brokers.librdkafka"]
    assert client_lines, "the outage is reported"
    lines = [
        (r.getMessage(), re.sub(r"\d+", "#", str(getattr(r, "fields", {}).get("message"))))
        for r in client_lines
    ]
    assert len(lines) == len(set(lines)), lines  # each kind of line once, not 20 a second
    assert len(lines) <= 8, lines
    assert "Connection refused" not in capfd.readouterr().err


def test_a_pull_that_fails_in_a_way_that_may_pass_is_retried_not_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = PubSubConsumer(
        PubSubSettings(emulator_host=f"127.0.0.1:{free_port()}"), TopicSettings(), None
    )
    answers: list[Any] = [
        gexc.ServiceUnavailable("emulator restarting"),
        gexc.InternalServerError("oops"),
        gexc.Aborted("try again"),
    ]
    pulls: list[float] = []

    def pull(**_: Any) -> Any:
        pulls.append(time.monotonic())
        answer = answers.pop(0) if answers else gexc.DeadlineExceeded("nothing")
        raise answer

    monkeypatch.setattr(consumer._client, "pull", pull)
    caplog.set_level(logging.INFO)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert consumer.receive(10, 0.05) == []
    consumer.close()
    failures = [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == "pull_failed"]
    assert [f["retry_in"] for f in failures] == [0.1, 0.2, 0.4], "longer after each failure"
    assert "ServiceUnavailable" in str(failures[0]["error"])
    assert len(pulls) > 3, "and it pulls again"


def test_a_real_unreachable_emulator_does_not_end_the_subscriber() -> None:
    consumer = PubSubConsumer(
        PubSubSettings(emulator_host=f"127.0.0.1:{free_port()}"), TopicSettings(), None
    )
    try:
        for _ in range(3):
            assert consumer.receive(10, 0.2) == []
    finally:
        consumer.close()


class _GivingUp:
    """A producer whose flush gives up at once, instead of after the 30 s timeout."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self._producer.produce(*args, **kwargs)

    def flush(self, *_: Any) -> int:
        return 1


def test_unconfirmed_kafka_messages_are_retriable_errors() -> None:
    settings = KafkaSettings(bootstrap=f"127.0.0.1:{free_port()}")
    publisher: Any = KafkaBroker(settings, TopicSettings()).publisher("t")
    publisher._producer = _GivingUp(publisher._producer)
    publisher._partition_count = 1  # no metadata request to wait for
    results = publisher.publish([OutgoingMessage("k", b"x")])
    assert results[0].error is not None and results[0].error.retriable
