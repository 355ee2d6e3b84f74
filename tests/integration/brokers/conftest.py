"""A fresh set of topics, subscription and consumer group per test, on either broker."""

import pytest

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.brokers.factory import create_broker
from fashion_pubsub.settings import AppSettings, KafkaSettings, PubSubSettings, TopicSettings

BROKERS = [
    pytest.param("apache-kafka", marks=pytest.mark.kafka, id="kafka"),
    pytest.param("google-pubsub", marks=pytest.mark.pubsub, id="pubsub"),
]


def unique_topics() -> TopicSettings:
    return TopicSettings.for_run("test")


def make_broker(
    name: str, request: pytest.FixtureRequest, topics: TopicSettings, **kafka: int
) -> Broker:
    """A broker of `name` on the session's real service, with our topics created."""
    if name == "apache-kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        settings = KafkaSettings(bootstrap=bootstrap, **kafka)
        broker = create_broker(AppSettings(broker=name), settings, PubSubSettings(), topics)
    else:
        host = request.getfixturevalue("pubsub_emulator_host")
        pubsub = PubSubSettings(emulator_host=host, ack_deadline_seconds=10)
        broker = create_broker(AppSettings(broker=name), KafkaSettings(), pubsub, topics)
    broker.ensure_topics()
    return broker


@pytest.fixture
def topics() -> TopicSettings:
    return unique_topics()


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, topics: TopicSettings) -> Broker:
    return make_broker(request.param, request, topics)
