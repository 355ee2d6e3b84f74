"""`publish` and `subscribe`."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic_settings import BaseSettings

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.cli.app import CONTEXT, F, S, broker_option, build, main, setting
from fashion_pubsub.cli.brokers import broker_settings_options, build_broker
from fashion_pubsub.settings import (
    MetricsSettings,
    PublisherSettings,
    SubscriberSettings,
    TopicSettings,
)


def _folder(model: type[BaseSettings], field: str, flag: str, help: str) -> Callable[[F], F]:
    return setting(model, field, flag, help=help, type=click.Path(path_type=Path, file_okay=False))


def _batch_and_broker_options(model: type[BaseSettings], most: str, wait: str) -> Callable[[F], F]:
    """--batch-size and --max-wait of `model` (`most` and `wait` are their help texts),
    then the flags that reach the brokers."""

    def decorate(func: F) -> F:
        func = broker_settings_options(func)
        func = setting(
            model,
            "max_wait_seconds",
            "--max-wait",
            type=float,
            help=wait,
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
    model: type[S], broker: str | None, flags: dict[str, Any]
) -> tuple[Broker, TopicSettings, S]:
    """The broker, topics and `model` settings a pipeline service runs with. `model` takes
    its own flags out of `flags`; the rest are the broker's."""
    own = [name for name in flags if name in model.model_fields]
    settings = build(model, **{name: flags.pop(name) for name in own})
    return build_broker(broker, flags), build(TopicSettings), settings


@main.command(context_settings=CONTEXT)
@broker_option
@_folder(PublisherSettings, "input_dir", "--input", "Folder to watch for images.")
@_folder(PublisherSettings, "published_dir", "--published", "Where published files go.")
@_folder(
    PublisherSettings,
    "rejected_dir",
    "--rejected",
    "Where unusable files go, with a .reason note (unset: rejected/ beside --input).",
)
@_batch_and_broker_options(
    PublisherSettings,
    "Most files per broker batch.",
    "Under load (files already waiting), seconds a batch may wait to fill; idle: none.",
)
@_metrics_options("publisher_port")
def publish(broker: str | None, **flags: Any) -> None:
    """Publish images dropped into --input to the input topic (the old publisher.py)."""
    from fashion_pubsub.pipeline.service import run_publisher

    metrics = _metrics("publisher_port", flags)
    stats = run_publisher(*_service_args(PublisherSettings, broker, flags), metrics)
    click.echo(f"published {stats.published}, rejected {stats.rejected}")


@main.command(context_settings=CONTEXT)
@broker_option
@_folder(SubscriberSettings, "output_dir", "--output", "Folder for <stem>-<Class>.png files.")
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
@_batch_and_broker_options(
    SubscriberSettings,
    "Most messages per predict request.",
    "Under load (messages already waiting), seconds a batch may wait to fill; idle: none.",
)
@_metrics_options("subscriber_port")
def subscribe(broker: str | None, **flags: Any) -> None:
    """Classify images from the input topic and write the results (the old subscriber.py)."""
    from fashion_pubsub.pipeline.service import run_subscriber

    metrics = _metrics("subscriber_port", flags)
    stats = run_subscriber(*_service_args(SubscriberSettings, broker, flags), metrics)
    click.echo(f"predicted {stats.predicted}, dead-lettered {stats.dead_lettered}")
