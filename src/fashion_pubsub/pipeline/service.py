"""Running the publisher or subscriber as a process: clients opened, signals turned into a
clean stop, metrics and health served, everything flushed and closed on the way out."""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.brokers.limits import FittingPublisher
from fashion_pubsub.brokers.transactions import SupportsTransactions
from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.logs import log_event
from fashion_pubsub.observability.health import Health
from fashion_pubsub.observability.instrumented import (
    BROKER,
    MODEL_SERVER,
    HealthReportingConsumer,
    HealthReportingPublisher,
    MeasuredModelClient,
)
from fashion_pubsub.observability.lag import LagMonitor
from fashion_pubsub.observability.metrics import PublisherMetrics, SubscriberMetrics
from fashion_pubsub.observability.server import MetricsServer
from fashion_pubsub.pipeline.publisher import FilePublisher
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.serving.client import open_model_client
from fashion_pubsub.settings import (
    Delivery,
    MetricsSettings,
    PublisherSettings,
    SubscriberSettings,
    TopicSettings,
)

logger = logging.getLogger(__name__)

DEAD_LETTER_KEPT = ("dead_letter_reason", "original_position", "delivery_attempt")


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM, so loops finish their batch and close cleanly."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_publisher(
    broker: Broker,
    topics: TopicSettings,
    settings: PublisherSettings,
    metrics: MetricsSettings | None = None,
) -> Stats:
    """Create topics if needed, then publish files until SIGINT/SIGTERM.

    Args:
        broker: the broker to publish to.
        topics: topic names.
        settings: folders and batching.
        metrics: where /metrics, /healthz and /readyz are served (default: its defaults).
    """
    metrics = metrics or MetricsSettings()
    stats = Stats(metrics=PublisherMetrics())
    health = Health((BROKER,))
    with ExitStack() as stack:
        stack.enter_context(
            MetricsServer(metrics.host, metrics.publisher_port, stats.metrics.registry, health)
        )
        broker.ensure_topics()
        health.report(BROKER, True)
        publisher = HealthReportingPublisher(
            stack.enter_context(broker.publisher(topics.input_topic)), health
        )
        publisher.connect()
        log_event(logger, "publishing", broker=broker.name, topic=topics.input_topic)
        stop = stack.enter_context(stop_on_signals())
        FilePublisher(publisher, settings, stats).run(stop)
    log_event(logger, "publisher_stopped", **stats.as_dict())
    return stats


def delivery_of(broker: Broker, settings: SubscriberSettings) -> Delivery:
    """The delivery mode: as set, else exactly-once where the broker has transactions.

    Args:
        broker: the broker the subscriber reads.
        settings: `delivery`, if set.
    """
    available = isinstance(broker, SupportsTransactions) and broker.transactional
    if settings.delivery == "exactly-once" and not available:
        raise ConfigurationError(
            f"exactly-once delivery needs Kafka's transactions; {broker.name} has none "
            "(use --delivery at-least-once: results are still de-duplicated by image id)"
        )
    return settings.delivery or ("exactly-once" if available else "at-least-once")


def open_channels(
    broker: Broker, topics: TopicSettings, settings: SubscriberSettings, stack: ExitStack
) -> Channels:
    """The subscriber's consumer and publishers, in one transactional session for
    exactly-once delivery; closed by `stack`."""
    if delivery_of(broker, settings) == "exactly-once":
        assert isinstance(broker, SupportsTransactions)  # checked by delivery_of
        session = stack.enter_context(broker.transactional_session(settings.instance_name()))
        return Channels(
            consumer=session.consumer,
            predictions=session.publisher(topics.predictions_topic),
            dead_letters=FittingPublisher(
                session.publisher(topics.dead_letter_topic), keep=DEAD_LETTER_KEPT
            ),
            transactions=session,
        )
    return Channels(
        consumer=stack.enter_context(broker.consumer()),
        predictions=stack.enter_context(broker.publisher(topics.predictions_topic)),
        # A dead letter that no longer fits the broker is sent shrunk, its reason kept.
        dead_letters=FittingPublisher(
            stack.enter_context(broker.publisher(topics.dead_letter_topic)),
            keep=DEAD_LETTER_KEPT,
        ),
    )


def run_subscriber(
    broker: Broker,
    topics: TopicSettings,
    settings: SubscriberSettings,
    metrics: MetricsSettings | None = None,
) -> Stats:
    """Create topics if needed, then classify messages until SIGINT/SIGTERM.

    Args:
        broker: the broker to read from and publish to.
        topics: topic names.
        settings: output, model server, batching.
        metrics: where /metrics, /healthz and /readyz are served (default: its defaults).
    """
    metrics = metrics or MetricsSettings()
    subscriber_metrics = SubscriberMetrics()
    stats = Stats(metrics=subscriber_metrics)
    health = Health((BROKER, MODEL_SERVER))
    with ExitStack() as stack:
        server = MetricsServer(
            metrics.host, metrics.subscriber_port, subscriber_metrics.registry, health
        )
        stack.enter_context(server)
        broker.ensure_topics()
        health.report(BROKER, True)
        if server.url is not None:
            stack.enter_context(
                LagMonitor(
                    broker.lag_reader(),
                    subscriber_metrics.consumer_lag,
                    metrics.lag_interval_seconds,
                )
            )
        channels = open_channels(broker, topics, settings, stack)
        # Batches wait for the ones before them to be published, so a slow first publish
        # would hold the images behind it.
        channels.predictions.connect()
        channels = replace(channels, consumer=HealthReportingConsumer(channels.consumer, health))
        client = stack.enter_context(
            MeasuredModelClient(open_model_client(settings.url), subscriber_metrics, health)
        )
        stop = stack.enter_context(stop_on_signals())
        ImageSubscriber(channels, client, settings, stats).run(stop)
    log_event(logger, "subscriber_stopped", **stats.as_dict())
    return stats
