"""Calls made in the background, in order: the caller does not wait for them, `close`
does (for a limited time), a failure is logged without stopping the calls after it, and a
caller that runs ahead by more than the allowed number waits."""

import logging
import threading
import time

import pytest

from fashion_pubsub.brokers.ordered_calls import OrderedCalls


def test_calls_run_in_order_and_close_waits_for_every_one() -> None:
    calls = OrderedCalls("test", most_waiting=100)
    gate, made = threading.Event(), list[int]()
    calls.call(gate.wait)
    for n in range(50):
        calls.call(lambda n=n: made.append(n))
    assert made == [], "handed in, not made while the first one is held"
    gate.set()
    assert calls.close(patience=10) == 0
    assert made == list(range(50))


def test_a_failing_call_is_logged_and_the_next_ones_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = OrderedCalls("test", most_waiting=2)
    made = list[str]()

    def fail() -> None:
        raise RuntimeError("the service said no")

    calls.call(fail)
    calls.call(lambda: made.append("after"))
    calls.close(patience=10)
    assert made == ["after"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "background_call_failed"
    assert "the service said no" in str(record.exc_info)


def test_a_caller_that_runs_too_far_ahead_waits_for_a_slot() -> None:
    calls = OrderedCalls("test", most_waiting=2)
    gate = threading.Event()
    calls.call(gate.wait)
    calls.call(lambda: None)
    third = threading.Thread(target=calls.call, args=(lambda: None,))
    third.start()
    third.join(0.3)
    assert third.is_alive(), "two are pending: the third waits"
    gate.set()
    third.join(5)
    assert not third.is_alive()
    calls.close(patience=10)


def test_close_waits_only_so_long_and_drops_the_calls_not_started() -> None:
    calls = OrderedCalls("test", most_waiting=4)
    gate, made = threading.Event(), list[str]()
    calls.call(lambda: gate.wait(10))  # a service that does not answer
    calls.call(lambda: made.append("queued"))
    started = time.monotonic()
    assert calls.close(patience=0.2) == 2, "the one running and the one behind it"
    assert time.monotonic() - started < 2
    gate.set()
    time.sleep(0.1)
    assert made == [], "dropped, not run after close"
