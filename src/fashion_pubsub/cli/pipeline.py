"""`publish` and `subscribe`."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic_settings import BaseSettings

from fashion_pubsub.cli.app import (
    CONTEXT,
    F,
    broker_option,
    build,
    main,
    setting,
)
from fashion_pubsub.cli.brokers import broker_settings_options, build_broker
from fashion_pubsub.settings import (
    PublisherSettings,
    SubscriberSettings,
    TopicSettings,
)


def _folder(model: type[BaseSettings], field: str, flag: str, help: str) -> Callable[[F], F]:
    return setting(model, field, flag, help=help, type=click.Path(path_type=Path, file_okay=False))


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
@setting(
    PublisherSettings, "batch_size", "--batch-size", type=int, help="Most files per broker batch."
)
@setting(
    PublisherSettings,
    "max_wait_seconds",
    "--max-wait",
    type=float,
    help="Seconds to wait for a batch to fill.",
)
@broker_settings_options
def publish(
    broker: str | None,
    input_dir: Path | None,
    published_dir: Path | None,
    rejected_dir: Path | None,
    batch_size: int | None,
    max_wait_seconds: float | None,
    **flags: Any,
) -> None:
    """Publish images dropped into --input to the input topic (the old publisher.py)."""
    from fashion_pubsub.pipeline.service import run_publisher

    settings = build(
        PublisherSettings,
        input_dir=input_dir,
        published_dir=published_dir,
        rejected_dir=rejected_dir,
        batch_size=batch_size,
        max_wait_seconds=max_wait_seconds,
    )
    stats = run_publisher(build_broker(broker, flags), build(TopicSettings), settings)
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
    "batch_size",
    "--batch-size",
    type=int,
    help="Most messages per predict request.",
)
@setting(
    SubscriberSettings,
    "max_wait_seconds",
    "--max-wait",
    type=float,
    help="Seconds to wait for a batch to fill.",
)
@broker_settings_options
def subscribe(
    broker: str | None,
    output_dir: Path | None,
    url: str | None,
    results: Path | None,
    batch_size: int | None,
    max_wait_seconds: float | None,
    **flags: Any,
) -> None:
    """Classify images from the input topic and write the results (the old subscriber.py)."""
    from fashion_pubsub.pipeline.service import run_subscriber

    settings = build(
        SubscriberSettings,
        output_dir=output_dir,
        url=url,
        results=results,
        batch_size=batch_size,
        max_wait_seconds=max_wait_seconds,
    )
    stats = run_subscriber(build_broker(broker, flags), build(TopicSettings), settings)
    click.echo(f"predicted {stats.predicted}, dead-lettered {stats.dead_lettered}")
