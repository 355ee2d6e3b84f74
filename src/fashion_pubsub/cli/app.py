"""The command group, its error handling, and the helpers every subcommand uses to turn
flags into settings."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from fashion_pubsub.errors import FashionPubSubError
from fashion_pubsub.settings import BROKER_NAMES, AppSettings, DataSettings

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
    alias = info.validation_alias
    env = alias.choices[0] if isinstance(alias, AliasChoices) else f"{prefix}{field}".upper()
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


broker_option = setting(
    AppSettings, "broker", "--broker", help="Which broker to use.", type=click.Choice(BROKER_NAMES)
)


def folder_setting(model: type[BaseSettings], field: str, flag: str, help: str) -> Callable[[F], F]:
    """A `setting` whose value is a folder (a path that must not name a file).

    Args:
        model: the settings model the field belongs to.
        field: the field's name.
        flag: the flag's spelling.
        help: its help text.
    """
    return setting(model, field, flag, help=help, type=click.Path(path_type=Path, file_okay=False))


data_dir_option = folder_setting(
    DataSettings, "data_dir", "--data-dir", "Folder with the four Fashion-MNIST IDX files."
)


def idx_options(split: str) -> Callable[[F], F]:
    """--images and --labels: an IDX pair other than the one in --data-dir.

    Args:
        split: which files of --data-dir are the default, for the help ("test", "training").
    """

    def decorate(func: F) -> F:
        for kind in ("labels", "images"):
            func = click.option(
                f"--{kind}",
                type=click.Path(path_type=Path, dir_okay=False),
                default=None,
                help=f"IDX {kind} file [default: the {split} {kind} in --data-dir]",
            )(func)
        return func

    return decorate


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
