"""Ack results of Pub/Sub's exactly-once delivery: transient failures are retried,
permanent ones reported, other errors left to the caller."""

import pytest
from google.api_core import exceptions as gexc

from fashion_pubsub.brokers.pubsub_acks import ACK_FAILURE, acknowledge


class AckError(gexc.InvalidArgument):
    """InvalidArgument with the ErrorInfo the service attaches."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__("ack failed")
        self._failures = failures

    @property
    def reason(self) -> str:
        return ACK_FAILURE

    @property
    def metadata(self) -> dict[str, str]:
        return self._failures


def test_transient_failures_are_retried_and_permanent_ones_returned() -> None:
    calls: list[list[str]] = []
    answers = [
        AckError(
            {"b": "TRANSIENT_FAILURE_UNORDERED_ACK_ID", "c": "PERMANENT_FAILURE_INVALID_ACK_ID"}
        ),
        None,
    ]

    def send(ids: list[str]) -> None:
        calls.append(ids)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    assert acknowledge(send, ["a", "b", "c"]) == ["c"]
    assert calls == [["a", "b", "c"], ["b"]]


def test_other_errors_reach_the_caller() -> None:
    def send(ids: list[str]) -> None:
        raise gexc.ServiceUnavailable("down")

    with pytest.raises(gexc.ServiceUnavailable):
        acknowledge(send, ["a"])
