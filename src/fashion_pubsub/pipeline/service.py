"""Running the publisher or subscriber as a process: clients opened, signals turned into a
clean stop, everything flushed and closed on the way out."""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.brokers.limits import FittingPublisher
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.publisher import FilePublisher
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.serving.client import open_model_client
from fashion_pubsub.settings import PublisherSettings, SubscriberSettings, TopicSettings

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


def run_subscriber(broker: Broker, topics: TopicSettings, settings: SubscriberSettings) -> Stats:
    """Create topics if needed, then classify messages until SIGINT/SIGTERM."""
    broker.ensure_topics()
    stats = Stats()
    with ExitStack() as stack:
        channels = Channels(
            consumer=stack.enter_context(broker.consumer()),
            predictions=stack.enter_context(broker.publisher(topics.predictions_topic)),
            # A dead letter that no longer fits the broker is sent shrunk, its reason kept.
            dead_letters=FittingPublisher(
                stack.enter_context(broker.publisher(topics.dead_letter_topic)),
                keep=DEAD_LETTER_KEPT,
            ),
        )
        client = stack.enter_context(open_model_client(settings.url))
        stop = stack.enter_context(stop_on_signals())
        ImageSubscriber(channels, client, settings, stats).run(stop)
    log_event(logger, "subscriber_stopped", **stats.as_dict())
    return stats
