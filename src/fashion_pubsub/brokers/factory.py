"""Picking the broker implementation from settings (ML_APP_BROKER / --broker)."""

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.settings import AppSettings, KafkaSettings, PubSubSettings, TopicSettings


def create_broker(
    app: AppSettings, kafka: KafkaSettings, pubsub: PubSubSettings, topics: TopicSettings
) -> Broker:
    """The configured broker; no connection is made until it is used."""
    if app.broker == "apache-kafka":
        from fashion_pubsub.brokers.kafka import KafkaBroker

        return KafkaBroker(kafka, topics)
    from fashion_pubsub.brokers.pubsub import PubSubBroker

    return PubSubBroker(pubsub, topics)
