"""`infra up|down|status`: the local Kafka broker and Pub/Sub emulator."""

from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import (
    CONTEXT,
    F,
    build,
    main,
    setting,
)
from fashion_pubsub.settings import (
    InfraSettings,
)


@main.group(context_settings=CONTEXT)
def infra() -> None:
    """Start, stop and inspect the local Kafka broker and Pub/Sub emulator."""


def _infra_options(func: F) -> F:
    func = click.option(
        "--service",
        type=click.Choice(["all", "kafka", "pubsub"]),
        default="all",
        help="Which service.",
    )(func)
    func = setting(
        InfraSettings,
        "state_dir",
        "--state-dir",
        help="PID files, logs, data.",
        type=click.Path(path_type=Path),
    )(func)
    func = setting(InfraSettings, "kafka_port", "--kafka-port", help="Kafka port.", type=int)(func)
    func = setting(
        InfraSettings,
        "kafka_controller_port",
        "--kafka-controller-port",
        help="Kafka controller (quorum) port.",
        type=int,
    )(func)
    func = setting(
        InfraSettings,
        "kafka_nodes",
        "--kafka-nodes",
        help="Kafka nodes (combined broker+controller); 3 for a replicated cluster.",
        type=click.IntRange(1, 9),
    )(func)
    return setting(
        InfraSettings, "emulator_port", "--emulator-port", help="Pub/Sub emulator port.", type=int
    )(func)


@infra.command("up", context_settings=CONTEXT)
@_infra_options
def infra_up(service: str, **flags: Any) -> None:
    """Start the services that are not running yet and wait until they answer."""
    from fashion_pubsub.infra.services import start_services

    for status in start_services(build(InfraSettings, **flags), service):
        click.echo(status.describe())


@infra.command("down", context_settings=CONTEXT)
@_infra_options
def infra_down(service: str, **flags: Any) -> None:
    """Stop the services that `infra up` started, by PID."""
    from fashion_pubsub.infra.services import stop_services

    for status in stop_services(build(InfraSettings, **flags), service):
        click.echo(status.describe())


@infra.command("status", context_settings=CONTEXT)
@_infra_options
def infra_status(service: str, **flags: Any) -> None:
    """Say what runs where."""
    from fashion_pubsub.infra.services import service_statuses

    for status in service_statuses(build(InfraSettings, **flags), service):
        click.echo(status.describe())
