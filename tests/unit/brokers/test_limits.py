"""Messages over a broker's limits fail alone, and dead letters are shrunk until they fit."""

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from fashion_pubsub.brokers.base import OutgoingMessage, Publisher, PublishResult
from fashion_pubsub.brokers.errors import MessageTooLargeError, PublishError
from fashion_pubsub.brokers.limits import (
    PUBSUB_LIMITS,
    TRUNCATED,
    FittingPublisher,
    check,
    kafka_limits,
    shrink_to_fit,
    size_of,
)

KAFKA = kafka_limits(1_000_000)
REASON = {"dead_letter_reason": "body has 999000 bytes, 28x28 uint8 needs 784"}


def test_a_message_within_the_limits_passes_unchanged() -> None:
    message = OutgoingMessage("k", b"x" * 784, {"schema": "1", **REASON})
    for limits in (KAFKA, PUBSUB_LIMITS):
        assert check(message, limits) is None
        assert shrink_to_fit(message, limits) == message


def test_a_body_near_the_kafka_limit_plus_a_reason_is_refused_then_shrunk() -> None:
    message = OutgoingMessage("k", b"x" * 999_800, {"image_id": "a" * 32, **REASON})
    error = check(message, KAFKA)
    assert isinstance(error, MessageTooLargeError) and not error.retriable
    shrunk = shrink_to_fit(message, KAFKA, keep=["dead_letter_reason"])
    assert check(shrunk, KAFKA) is None
    assert shrunk.payload == b""
    assert shrunk.attributes["dead_letter_reason"] == REASON["dead_letter_reason"]
    assert shrunk.attributes["image_id"] == "a" * 32
    assert "999800 bytes dropped" in shrunk.attributes[TRUNCATED]


def test_long_pubsub_attributes_are_truncated_and_marked_keeping_the_body() -> None:
    message = OutgoingMessage(
        "k" * 2000, b"pixels", {"true_label": "9" * 5000, "é" * 300: "x", **REASON}
    )
    assert check(message, PUBSUB_LIMITS) is not None
    shrunk = shrink_to_fit(message, PUBSUB_LIMITS)
    assert check(shrunk, PUBSUB_LIMITS) is None
    assert shrunk.payload == b"pixels"
    assert shrunk.attributes["true_label"].startswith("999") and shrunk.attributes[
        "true_label"
    ].endswith("…")
    assert "é" * 300 not in shrunk.attributes
    assert "true_label" in shrunk.attributes[TRUNCATED]
    assert shrunk.attributes["dead_letter_reason"] == REASON["dead_letter_reason"]


def test_too_many_attributes_keep_the_ones_named_first() -> None:
    attributes = {f"a{i:03}": "v" for i in range(150)} | REASON
    shrunk = shrink_to_fit(
        OutgoingMessage("k", b"", attributes), PUBSUB_LIMITS, keep=["dead_letter_reason"]
    )
    assert check(shrunk, PUBSUB_LIMITS) is None
    assert "dead_letter_reason" in shrunk.attributes
    assert "attributes dropped" in shrunk.attributes[TRUNCATED]


def test_a_huge_reason_on_kafka_is_cut_too() -> None:
    message = OutgoingMessage("k", b"x" * 500_000, {"dead_letter_reason": "r" * 900_000})
    shrunk = shrink_to_fit(message, KAFKA, keep=["dead_letter_reason"])
    assert check(shrunk, KAFKA) is None
    assert shrunk.attributes["dead_letter_reason"].startswith("rrr")


def test_thousands_of_headers_on_kafka_leave_only_the_kept_ones() -> None:
    attributes = {f"h{i:05}": "v" * 100 for i in range(9000)} | REASON
    shrunk = shrink_to_fit(OutgoingMessage("k", b"", attributes), KAFKA, ["dead_letter_reason"])
    assert check(shrunk, KAFKA) is None
    assert set(shrunk.attributes) == {"dead_letter_reason", TRUNCATED}


_text = st.text(max_size=3000)


@settings(max_examples=200, deadline=None)
@given(
    key=_text,
    body=st.integers(0, 11_000_000),
    attributes=st.dictionaries(_text, _text, max_size=120),
)
def test_whatever_comes_in_the_shrunk_message_fits(
    key: str, body: int, attributes: dict[str, str]
) -> None:
    message = OutgoingMessage(key, b"\0" * body, {**attributes, **REASON})
    for limits in (KAFKA, PUBSUB_LIMITS):
        shrunk = shrink_to_fit(message, limits, keep=["dead_letter_reason"])
        assert check(shrunk, limits) is None
        assert shrunk.attributes["dead_letter_reason"] == REASON["dead_letter_reason"]


@settings(max_examples=300, deadline=None)
@given(
    key=st.text(max_size=20),
    below=st.integers(-2_000, 2_000),
    attributes=st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=8),
)
def test_a_message_passes_exactly_when_its_utf8_size_fits(
    key: str, below: int, attributes: dict[str, str]
) -> None:
    # Near the limit, with characters of up to four UTF-8 bytes: the quick bound must
    # never let through what the exact count refuses, nor refuse what it lets through.
    without_body = size_of(OutgoingMessage(key, b"", attributes), KAFKA)
    body = max(KAFKA.max_message_bytes - without_body - below, 0)
    message = OutgoingMessage(key, b"\0" * body, attributes)
    fits = size_of(message, KAFKA) <= KAFKA.max_message_bytes
    assert (check(message, KAFKA) is None) == fits


class _StrictPublisher(Publisher):
    """Refuses what is over the Pub/Sub limits, as the real publishers do; records calls."""

    def __init__(self) -> None:
        self.calls: list[list[OutgoingMessage]] = []
        self.connected = False

    def connect(self) -> None:
        self.connected = True

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        batch = list(messages)
        self.calls.append(batch)
        return [
            PublishResult(m, error=error)
            if (error := check(m, PUBSUB_LIMITS))
            else PublishResult(m, message_id=str(i))
            for i, m in enumerate(batch)
        ]

    def close(self) -> None:
        pass


def test_the_fitting_publisher_sends_again_only_what_was_too_large() -> None:
    inner = _StrictPublisher()
    small = OutgoingMessage("a", b"x", REASON)
    large = OutgoingMessage("b", b"x" * 11_000_000, REASON)
    results = FittingPublisher(inner, keep=["dead_letter_reason"]).publish([small, large])
    assert [r.ok for r in results] == [True, True]
    assert [len(call) for call in inner.calls] == [2, 1]
    assert results[0].message == small
    assert results[1].message.payload == b""
    assert results[1].message.attributes["dead_letter_reason"] == REASON["dead_letter_reason"]


def test_other_publish_errors_pass_through_with_their_retriable_flag() -> None:
    class Failing(_StrictPublisher):
        def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
            error = PublishError("broker down", retriable=True, cause=ConnectionError("x"))
            return [PublishResult(m, error=error) for m in messages]

    results = FittingPublisher(Failing()).publish([OutgoingMessage("a", b"x")])
    assert results[0].error is not None and results[0].error.retriable
    assert isinstance(results[0].error.__cause__, ConnectionError)


def test_the_fitting_publisher_connects_its_inner_publisher() -> None:
    inner = _StrictPublisher()
    FittingPublisher(inner).connect()
    assert inner.connected, "the broker's publisher was not reached at start"
