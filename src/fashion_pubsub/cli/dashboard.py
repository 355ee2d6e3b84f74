"""`dashboard`."""

from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import CONTEXT, broker_option, build, folder_setting, main, setting
from fashion_pubsub.cli.brokers import broker_settings_options
from fashion_pubsub.settings import (
    AppSettings,
    DashboardSettings,
    KafkaSettings,
    PubSubSettings,
    TopicSettings,
)


@main.command(context_settings=CONTEXT)
@broker_option
@setting(DashboardSettings, "host", "--host", help="Address to listen on.")
@setting(DashboardSettings, "port", "--port", type=int, help="Port to listen on.")
@setting(
    DashboardSettings,
    "metrics_urls",
    "--metrics-url",
    multiple=True,
    help="A metrics endpoint to scrape (publisher, subscriber, model server); repeat it.",
)
@folder_setting(
    DashboardSettings,
    "images_dir",
    "--images",
    "The subscriber's output folder, for the gallery's pictures.",
)
@folder_setting(
    DashboardSettings,
    "rejected_dir",
    "--rejected",
    "The publisher's rejected/ folder, for the latest rejects.",
)
@broker_settings_options
def dashboard(
    broker: str | None,
    host: str | None,
    port: int | None,
    metrics_urls: tuple[str, ...],
    images_dir: Path | None,
    rejected_dir: Path | None,
    **flags: Any,
) -> None:
    """Serve a live web page of a running pipeline: throughput, latency, lag, the latest
    predictions, dead letters and rejects. It reads the processes' metrics endpoints and
    the predictions and dead-letter topics, so it works for pipelines started by hand."""
    from fashion_pubsub.dashboard.serve import feeds_for, run_dashboard

    settings = build(
        DashboardSettings,
        host=host,
        port=port,
        metrics_urls=metrics_urls or None,
        images_dir=images_dir,
        rejected_dir=rejected_dir,
    )
    feeds = feeds_for(
        build(AppSettings, broker=broker),
        build(
            KafkaSettings,
            bootstrap=flags.get("bootstrap"),
            client_properties=flags.get("client_properties"),
        ),
        build(
            PubSubSettings,
            project_id=flags.get("project_id"),
            emulator_host=flags.get("emulator_host"),
        ),
        build(TopicSettings),
    )
    click.echo(f"dashboard at http://{settings.host}:{settings.port}/")
    run_dashboard(settings, feeds)
