"""Broker errors say whether retrying can help, from the client library's own error."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from google.api_core import exceptions

from fashion_pubsub.brokers.errors import BrokerError, BrokerUnavailableError, TopicNotFoundError


def _raised(error: BrokerError, cause: BaseException) -> BrokerError:
    try:
        raise error from cause
    except BrokerError as raised:
        return raised


@pytest.mark.parametrize("retriable", [True, False])
def test_a_kafka_error_is_retriable_as_librdkafka_says(retriable: bool) -> None:
    cause = KafkaException(KafkaError(KafkaError._TRANSPORT, "down", retriable=retriable))
    assert _raised(BrokerError("consume failed"), cause).retriable is retriable


@pytest.mark.parametrize(
    ("cause", "retriable"),
    [
        (exceptions.ServiceUnavailable("emulator restarting"), True),
        (exceptions.InternalServerError("oops"), True),
        (exceptions.PermissionDenied("no"), False),
        (exceptions.InvalidArgument("bad name"), False),
    ],
)
def test_a_pubsub_error_is_retriable_if_google_calls_it_transient(
    cause: Exception, retriable: bool
) -> None:
    assert _raised(BrokerError("refused"), cause).retriable is retriable


def test_without_a_cause_only_unavailability_is_retriable() -> None:
    assert BrokerUnavailableError("127.0.0.1:9092 refused").retriable
    assert not BrokerError("refused").retriable
    assert not _raised(TopicNotFoundError("no input-topic"), exceptions.NotFound("x")).retriable
