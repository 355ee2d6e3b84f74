"""An image's W3C trace goes from its message to the model-server request, the prediction
and the result record; a bad traceparent costs the image nothing but its old trace."""

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.tracing import TraceContext, parse_traceparent
from tests.support.subscriber_rig import Rig, valid


@pytest.fixture(params=["kafka", "pubsub"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, flavour=request.param)
    yield rig
    rig.close()


def traced(number: int, traceparent: str) -> OutgoingMessage:
    message = valid(number)
    return dataclasses.replace(
        message, attributes={**message.attributes, "traceparent": traceparent}
    )


def test_the_trace_reaches_the_request_the_prediction_and_the_record(rig: Rig) -> None:
    started = TraceContext.start()
    rig.publish(traced(1, started.header))
    rig.run()
    [request] = rig.client.traceparents
    assert request is not None
    sent = parse_traceparent(request)
    assert sent.trace_id == started.trace_id and sent.span_id != started.span_id
    [prediction] = rig.predictions()
    assert parse_traceparent(prediction.attributes["traceparent"]).trace_id == started.trace_id
    [record] = rig.records()
    assert record["trace_id"] == started.trace_id


def test_a_batch_request_carries_its_first_images_trace(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    traces = [TraceContext.start() for _ in range(3)]
    rig.publish(*(traced(n, t.header) for n, t in enumerate(traces)))
    with caplog.at_level(logging.DEBUG, logger="fashion_pubsub.pipeline"):
        rig.run()
    [request] = rig.client.traceparents
    request_trace = parse_traceparent(str(request)).trace_id
    assert request_trace in {t.trace_id for t in traces}
    lines = {
        r.fields["trace_id"]: r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "image_classified"
    }
    assert set(lines) == {t.trace_id for t in traces}
    assert {f["request_trace_id"] for f in lines.values()} == {request_trace}
    recorded = [r for r in caplog.records if r.getMessage() == "image_recorded"]
    assert {r.fields["trace_id"] for r in recorded} == set(lines)  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["nonsense", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", ""])
def test_a_bad_traceparent_is_ignored_and_the_image_still_classified(
    rig: Rig, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig.publish(traced(2, bad))
    with caplog.at_level(logging.WARNING, logger="fashion_pubsub.pipeline"):
        rig.run()
    [record] = rig.records()
    assert rig.dead_letters() == []
    [ignored] = [r for r in caplog.records if r.getMessage() == "traceparent_ignored"]
    assert ignored.fields["trace_id"] == record["trace_id"]  # type: ignore[attr-defined]
    assert ignored.fields["reason"]  # type: ignore[attr-defined]


def test_a_dead_letter_keeps_its_trace_and_its_log_line_names_it(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    started = TraceContext.start()
    poison = OutgoingMessage(
        key="poison", payload=b"short", attributes={"schema": "1", "traceparent": started.header}
    )
    rig.publish(poison)
    with caplog.at_level(logging.WARNING, logger="fashion_pubsub.pipeline"):
        rig.run()
    [letter] = rig.dead_letters()
    assert letter.attributes["traceparent"] == started.header
    [line] = [r for r in caplog.records if r.getMessage() == "dead_lettered"]
    assert line.fields["trace_id"] == started.trace_id  # type: ignore[attr-defined]
