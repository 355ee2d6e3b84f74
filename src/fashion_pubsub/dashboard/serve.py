"""Running the dashboard: its feeds for the configured broker, the app on uvicorn."""

import logging

import uvicorn

from fashion_pubsub.dashboard.app import build_app
from fashion_pubsub.dashboard.feeds import Feed, KafkaFeed, PubSubFeed
from fashion_pubsub.dashboard.monitor import Monitor
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import (
    AppSettings,
    DashboardSettings,
    KafkaSettings,
    PubSubSettings,
    TopicSettings,
)

logger = logging.getLogger(__name__)
_KEEP = 24


def feeds_for(
    app: AppSettings, kafka: KafkaSettings, pubsub: PubSubSettings, topics: TopicSettings
) -> tuple[Feed, Feed]:
    """Feeds of the predictions and dead-letter topics on the configured broker."""
    if app.broker == "apache-kafka":
        return (
            KafkaFeed(kafka, topics.predictions_topic, _KEEP),
            KafkaFeed(kafka, topics.dead_letter_topic, _KEEP),
        )
    return (
        PubSubFeed(pubsub, topics.predictions_topic, _KEEP),
        PubSubFeed(pubsub, topics.dead_letter_topic, _KEEP),
    )


def run_dashboard(settings: DashboardSettings, feeds: tuple[Feed, Feed]) -> None:
    """Serve the dashboard until SIGINT/SIGTERM.

    Args:
        settings: address, endpoints to scrape, folders.
        feeds: the predictions and dead-letter feeds (closed on the way out).
    """
    app = build_app(settings, lambda: Monitor(settings, *feeds))
    log_event(logger, "dashboard", url=f"http://{settings.host}:{settings.port}/")
    # Open event streams never end by themselves: give them a second, then close them.
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    uvicorn.Server(config).run()
