"""Pub/Sub's exactly-once delivery on the real emulator, which supports it: the input
subscription is created with it, and the ack results are read (a refused ack is
reported, its message would come again and be recognised by image id)."""

import logging

import pytest
from google.cloud import pubsub_v1

from fashion_pubsub.brokers.base import Message, OutgoingMessage
from fashion_pubsub.brokers.pubsub import PubSubBroker
from fashion_pubsub.settings import PubSubSettings, TopicSettings

pytestmark = pytest.mark.pubsub
PROJECT = "fashion-pubsub-local"


@pytest.fixture
def broker(pubsub_emulator_host: str, topics: TopicSettings) -> PubSubBroker:
    settings = PubSubSettings(
        emulator_host=pubsub_emulator_host, ack_deadline_seconds=10, exactly_once_delivery=True
    )
    broker = PubSubBroker(settings, topics)
    broker.ensure_topics()
    return broker


def test_the_input_subscription_has_exactly_once_delivery(
    broker: PubSubBroker,
    topics: TopicSettings,
    pubsub_emulator_host: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator_host)
    with pubsub_v1.SubscriberClient() as client:
        path = client.subscription_path(PROJECT, topics.subscription)
        assert client.get_subscription(subscription=path).enable_exactly_once_delivery


def test_ack_results_are_read_a_refused_ack_is_reported(
    broker: PubSubBroker, topics: TopicSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """The emulator refuses a second ack of the same delivery with a per-ack-id result
    (PERMANENT_FAILURE_INVALID_ACK_ID), as Google Cloud does for an expired one."""
    with broker.publisher(topics.input_topic) as publisher:
        assert publisher.publish([OutgoingMessage(key="k", payload=b"once")])[0].ok
    consumer = broker.consumer()
    first = receive_one(consumer)
    with caplog.at_level(logging.WARNING):
        consumer.ack([first])
        consumer.ack([first])
        consumer.close()  # acks go out in the background, in order; close sends them all
    assert caplog.text.count("ack_refused") == 1, "the second ack, not the first"
    with broker.consumer() as later:
        assert later.receive(1, 2.0) == [], "acked once: never delivered again"


def receive_one(consumer: object) -> Message:
    for _ in range(60):
        received = consumer.receive(1, 1.0)  # type: ignore[attr-defined]
        if received:
            return received[0]  # type: ignore[no-any-return]
    raise AssertionError("nothing delivered")
