"""The reporting wrappers pass every call on to the real client: a method the wrapper did not
forward would silently fall back to the base class's (Kafka's release callback, say)."""

import inspect

import pytest

from fashion_pubsub.brokers.base import Consumer, Publisher
from fashion_pubsub.observability.instrumented import (
    HealthReportingConsumer,
    HealthReportingPublisher,
)


def _public(cls: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("base", "wrapper"),
    [(Consumer, HealthReportingConsumer), (Publisher, HealthReportingPublisher)],
)
def test_every_public_method_is_forwarded(base: type, wrapper: type) -> None:
    assert _public(base) <= set(vars(wrapper))
