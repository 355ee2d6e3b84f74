"""Running the publisher or subscriber as a process: clients opened, signals turned into a
clean stop, everything flushed and closed on the way out."""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.brokers.limits import FittingPublisher
from fashion_pubsub.brokers.transactions import SupportsTransactions
from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.publisher import FilePublisher
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.serving.client import open_model_client
from fashion_pubsub.settings import (
    Delivery,
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


def run_publisher(broker: Broker, topics: TopicSettings, settings: PublisherSettings) -> Stats:
    """Create topics if needed, then publish files until SIGINT/SIGTERM."""
    broker.ensure_topics()
    stats = Stats()
    with broker.publisher(topics.input_topic) as publisher, stop_on_signals() as stop:
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


def run_subscriber(broker: Broker, topics: TopicSettings, settings: SubscriberSettings) -> Stats:
    """Create topics if needed, then classify messages until SIGINT/SIGTERM."""
    broker.ensure_topics()
    stats = Stats()
    with ExitStack() as stack:
        channels = open_channels(broker, topics, settings, stack)
        client = stack.enter_context(open_model_client(settings.url))
        stop = stack.enter_context(stop_on_signals())
        ImageSubscriber(channels, client, settings, stats).run(stop)
    log_event(logger, "subscriber_stopped", **stats.as_dict())
    return stats
