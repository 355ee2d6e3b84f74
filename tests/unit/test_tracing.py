"""W3C traceparent: valid values continue their trace, invalid ones start a new one."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fashion_pubsub.errors import TraceparentError
from fashion_pubsub.tracing import TraceContext, continue_trace, parse_traceparent

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_recommendations_example_parses_and_round_trips() -> None:
    context = parse_traceparent(VALID)
    assert (context.trace_id, context.span_id, context.flags) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "01",
    )
    assert context.header == VALID


def test_a_child_keeps_the_trace_and_takes_a_new_span() -> None:
    context = parse_traceparent(VALID)
    child = context.child()
    assert child.trace_id == context.trace_id and child.span_id != context.span_id
    assert parse_traceparent(TraceContext.start().header).flags == "01"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        VALID.upper(),
        VALID + "-extra",  # version 00 has exactly four fields
        "ff" + VALID[2:],
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        " " + VALID,
    ],
)
def test_invalid_values_are_refused_with_a_reason(value: str) -> None:
    with pytest.raises(TraceparentError) as caught:
        parse_traceparent(value)
    assert caught.value.reason


def test_a_later_version_may_carry_more_fields() -> None:
    assert parse_traceparent("cc" + VALID[2:] + "-what-comes-next").trace_id == VALID[3:35]


def test_an_invalid_or_missing_value_starts_a_new_trace() -> None:
    fresh, error = continue_trace("nonsense")
    assert isinstance(error, TraceparentError) and len(fresh.trace_id) == 32
    assert continue_trace(None)[1] is None
    continued, error = continue_trace(VALID)
    assert error is None and continued.trace_id == VALID[3:35]


@given(st.text(max_size=80))
def test_any_text_either_parses_or_is_refused_never_crashes(value: str) -> None:
    try:
        context = parse_traceparent(value)
    except TraceparentError:
        return
    assert len(context.trace_id) == 32


def test_new_ids_are_valid_even_when_the_random_draw_is_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("fashion_pubsub.tracing.random.getrandbits", lambda bits: 0)
    started = TraceContext.start()
    assert parse_traceparent(started.header) == started
    assert set(started.trace_id + started.span_id) != {"0"}, "all zeros is an invalid id"
    small = parse_traceparent(VALID).child()
    assert len(small.span_id) == 16
