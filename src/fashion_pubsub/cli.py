"""The `fashion-pubsub` command line: flags -> settings -> one call per subcommand.

Implementations are imported inside each command so that `--help` and the light
commands never load ONNX Runtime, broker clients or TensorFlow.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from fashion_pubsub.errors import FashionPubSubError
from fashion_pubsub.settings import (
    BROKER_NAMES,
    AppSettings,
    DataSettings,
    InfraSettings,
)

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=BaseSettings)
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


def setting(
    model: type[BaseSettings], field: str, *decls: str, help: str, **kw: Any
) -> Callable[[F], F]:
    """A flag for one settings field: no click default, so unset flags fall back to the
    environment and then the model's default, which --help shows."""
    info = model.model_fields[field]
    prefix = model.model_config.get("env_prefix", "")
    env = f"{prefix}{field}".upper()
    default = info.default
    shown = "none" if default is None else str(default)
    return click.option(
        *decls, field, default=None, show_default=shown, help=f"{help} [env: {env}]", **kw
    )


def build(model: type[S], **flags: Any) -> S:
    """Settings from flags that were given (None means not given), env and defaults."""
    try:
        return model(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise click.UsageError(f"invalid setting: {exc}") from exc


def broker_option(func: F) -> F:
    return setting(
        AppSettings,
        "broker",
        "--broker",
        help="Which broker to use.",
        type=click.Choice(BROKER_NAMES),
    )(func)


def data_dir_option(func: F) -> F:
    return setting(
        DataSettings,
        "data_dir",
        "--data-dir",
        help="Folder with the four Fashion-MNIST IDX files.",
        type=click.Path(path_type=Path, file_okay=False),
    )(func)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FashionPubSubError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings=CONTEXT)
@click.option(
    "--log-level",
    default="INFO",
    envvar="FASHION_PUBSUB_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Log level.",
)
@click.version_option(package_name="fashion-pubsub")
def main(log_level: str) -> None:
    """Fashion-MNIST classification over Apache Kafka or Google Cloud Pub/Sub."""
    from fashion_pubsub.logs import configure_logging

    configure_logging(log_level)


# -- infra ------------------------------------------------------------------------------


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


# -- data -------------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@click.option(
    "--images",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="IDX images file [default: the test images in --data-dir]",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="IDX labels file [default: the test labels in --data-dir]",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the PNGs (created if missing).",
)
@click.option("--start", type=int, default=0, help="First index.")
@click.option("--end", type=int, default=4, help="Last index, inclusive (as ubyte_to_png.py).")
@data_dir_option
def convert(
    images: Path | None,
    labels: Path | None,
    output: Path,
    start: int,
    end: int,
    data_dir: Path | None,
) -> None:
    """Write images START..END of an IDX file as <index>.png, true label kept inside."""
    from fashion_pubsub.data.convert import convert_range
    from fashion_pubsub.data.dataset import split_paths

    if images is None or labels is None:
        default_images, default_labels = split_paths(
            build(DataSettings, data_dir=data_dir).data_dir, "test"
        )
        images, labels = images or default_images, labels or default_labels
    written = convert_range(images, labels, output, start, end, progress=True)
    click.echo(f"wrote {written} images to {output}")


@main.command("fetch-data", context_settings=CONTEXT)
@data_dir_option
@click.option(
    "--base-url", default=None, help="Mirror to download from [default: Zalando's official URL]"
)
def fetch_data(data_dir: Path | None, base_url: str | None) -> None:
    """Download the four Fashion-MNIST files and verify their md5 sums."""
    from fashion_pubsub.data.fetch import OFFICIAL_BASE_URL, fetch_dataset

    target = build(DataSettings, data_dir=data_dir).data_dir
    for path in fetch_dataset(target, base_url or OFFICIAL_BASE_URL, progress=True):
        click.echo(f"ok {path}")


# -- subcommands added by later issues go above this line --------------------------------
