"""`publish` and `subscribe`."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic_settings import BaseSettings

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.cli.app import (
    CONTEXT,
    F,
    S,
    broker_option,
    build,
    folder_setting,
    main,
    setting,
)
from fashion_pubsub.cli.brokers import broker_settings_options, build_broker
from fashion_pubsub.settings import (
    MetricsSettings,
    PublisherSettings,
    SubscriberSettings,
    TopicSettings,
)


def _service_options(
    model: type[BaseSettings], most: str, waiting: str, port_field: str
) -> Callable[[F], F]:
    """--batch-size (`most` is its help) and --max-wait (`waiting` says what waits) of
    `model`, then the flags that reach the brokers, then the metrics flags."""

    def decorate(func: F) -> F:
        func = broker_settings_options(_metrics_options(port_field)(func))
        func = setting(
            model,
            "max_wait_seconds",
            "--max-wait",
            type=float,
            help=f"Behind a backlog (an eighth of a batch of {waiting} waiting), seconds a "
            "batch may wait to fill; else what is waiting goes at once.",
        )(func)
        return setting(model, "batch_size", "--batch-size", type=int, help=most)(func)

    return decorate


def _metrics_options(port_field: str) -> Callable[[F], F]:
    """--metrics-host and --metrics-port: where /metrics, /healthz and /readyz are served."""

    def decorate(func: F) -> F:
        func = setting(
            MetricsSettings,
            port_field,
            "--metrics-port",
            type=int,
            help="Port of /metrics, /healthz and /readyz (0: off).",
        )(func)
        return setting(
            MetricsSettings, "host", "--metrics-host", help="Address the metrics port listens on."
        )(func)

    return decorate


def _metrics(port_field: str, flags: dict[str, Any]) -> MetricsSettings:
    """The metrics settings; takes their flags out of `flags`."""
    return build(
        MetricsSettings,
        **{"host": flags.pop("host", None), port_field: flags.pop(port_field, None)},
    )


def _service_args(
    model: type[S], broker: str | None, flags: dict[str, Any], port_field: str
) -> tuple[Broker, TopicSettings, S, MetricsSettings]:
    """The broker, topics, `model` settings and metrics settings a pipeline service runs
    with. `model` and the metrics take their own flags out of `flags`; the rest are the
    broker's."""
    metrics = _metrics(port_field, flags)
    own = [name for name in flags if name in model.model_fields]
    settings = build(model, **{name: flags.pop(name) for name in own})
    return build_broker(broker, flags), build(TopicSettings), settings, metrics


@main.command(context_settings=CONTEXT)
@broker_option
@folder_setting(PublisherSettings, "input_dir", "--input", "Folder to watch for images.")
@folder_setting(PublisherSettings, "published_dir", "--published", "Where published files go.")
@folder_setting(
    PublisherSettings,
    "rejected_dir",
    "--rejected",
    "Where unusable files go, with a .reason note (unset: rejected/ beside --input).",
)
@_service_options(PublisherSettings, "Most files per broker batch.", "files", "publisher_port")
@setting(
    PublisherSettings,
    "stream_wait_seconds",
    "--stream-wait",
    type=float,
    help="While files come closer together than this, seconds a batch may wait for "
    "more (fewer, fuller broker requests); 0: never.",
)
def publish(broker: str | None, **flags: Any) -> None:
    """Publish images dropped into --input to the input topic (the old publisher.py)."""
    from fashion_pubsub.pipeline.service import run_publisher

    stats = run_publisher(*_service_args(PublisherSettings, broker, flags, "publisher_port"))
    click.echo(f"published {stats.published}, rejected {stats.rejected}")


@main.command(context_settings=CONTEXT)
@broker_option
@folder_setting(
    SubscriberSettings, "output_dir", "--output", "Folder for <stem>-<Class>.png files."
)
@setting(SubscriberSettings, "url", "--url", help="TF Serving predict URL of the model.")
@setting(
    SubscriberSettings,
    "results",
    "--results",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Results log [default: <output>/results.jsonl]",
)
@setting(
    SubscriberSettings,
    "delivery",
    "--delivery",
    type=click.Choice(["exactly-once", "at-least-once"]),
    help="exactly-once: predictions, dead letters and offsets in one Kafka transaction "
    "[none: exactly-once on Kafka, at-least-once on Pub/Sub].",
)
@setting(
    SubscriberSettings,
    "instance_id",
    "--instance-id",
    help="Stable name of this subscriber for its Kafka transactional id "
    "[none: from the results log's path].",
)
@setting(
    SubscriberSettings,
    "transaction_interval_seconds",
    "--transaction-interval",
    type=float,
    help="exactly-once: seconds a transaction stays open for more batches before it "
    "commits (also on idle, rebalance, close); 0: one per batch. An abort or crash "
    "redoes up to this much work; read_committed readers see results this much later.",
)
@_service_options(
    SubscriberSettings, "Most messages per predict request.", "messages", "subscriber_port"
)
def subscribe(broker: str | None, **flags: Any) -> None:
    """Classify images from the input topic and write the results (the old subscriber.py)."""
    from fashion_pubsub.pipeline.service import run_subscriber

    stats = run_subscriber(*_service_args(SubscriberSettings, broker, flags, "subscriber_port"))
    click.echo(f"predicted {stats.predicted}, dead-lettered {stats.dead_lettered}")
