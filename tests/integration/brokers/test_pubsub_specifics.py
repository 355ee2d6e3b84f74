"""Pub/Sub only: subscription policies, standard clients, unreachable emulator."""

import uuid

import pytest
from google.cloud import pubsub_v1

from fashion_pubsub.brokers.errors import BrokerUnavailableError
from fashion_pubsub.brokers.pubsub import PubSubBroker
from fashion_pubsub.settings import PubSubSettings, TopicSettings
from tests.conftest import free_port, pubsub_resource_names

from .conftest import make_broker

pytestmark = pytest.mark.pubsub
PROJECT = "fashion-pubsub-local"


def test_input_subscription_has_dead_letter_and_retry_policies(
    request: pytest.FixtureRequest,
    topics: TopicSettings,
    pubsub_emulator_host: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_broker("google-pubsub", request, topics)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator_host)
    with pubsub_v1.SubscriberClient() as client:
        sub = client.get_subscription(
            subscription=client.subscription_path(PROJECT, topics.subscription)
        )
    assert sub.dead_letter_policy.dead_letter_topic.endswith(topics.dead_letter_topic)
    assert sub.dead_letter_policy.max_delivery_attempts == 5
    assert sub.ack_deadline_seconds == 10
    assert sub.retry_policy.maximum_backoff.seconds == 60


def test_delete_topics_removes_topics_and_subscriptions_and_may_run_twice(
    request: pytest.FixtureRequest,
    topics: TopicSettings,
    pubsub_emulator_host: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = make_broker("google-pubsub", request, topics)
    broker.delete_topics()
    broker.delete_topics()
    left = pubsub_resource_names(pubsub_emulator_host, PROJECT, monkeypatch)
    suffix = topics.input_topic.rsplit("-", 1)[1]
    assert not [name for name in left if suffix in name]


def test_standard_clients_publish_and_pull(
    pubsub_emulator_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator_host)
    name = f"plain-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.create_topic(name=publisher.topic_path(PROJECT, name)).name
    with pubsub_v1.SubscriberClient() as subscriber:
        subscription = subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, name), topic=topic
        ).name
        publisher.publish(topic, b"hello pubsub", origin="test").result(timeout=30)
        response = subscriber.pull(subscription=subscription, max_messages=1, timeout=30)
        [received] = response.received_messages
        subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
    assert received.message.data == b"hello pubsub"
    assert received.message.attributes["origin"] == "test"


def test_unreachable_emulator_names_the_fix(topics: TopicSettings) -> None:
    settings = PubSubSettings(emulator_host=f"127.0.0.1:{free_port()}")
    with pytest.raises(BrokerUnavailableError, match="infra up"):
        PubSubBroker(settings, topics).ensure_topics()
