"""`demo`, and the run options it shares with `bench`."""

from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import CONTEXT, F, broker_option, build, data_dir_option, main
from fashion_pubsub.settings import AppSettings, DataSettings, InfraSettings, TopicSettings

_RUN_OPTIONS = [
    data_dir_option,
    click.option(
        "--workdir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("workdir"),
        help="Each run gets a new folder in here.",
    ),
    click.option(
        "--model-base-path",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("models/fashion-model"),
        help="Model repository.",
    ),
    click.option(
        "--port",
        type=int,
        default=8501,
        help="Model server port (started there unless one answers).",
    ),
    click.option(
        "--timeout", type=float, default=900.0, help="Seconds to wait for all results of a run."
    ),
]


def run_options(func: F) -> F:
    """The options of a run that `demo` and `bench` share."""
    for option in _RUN_OPTIONS:
        func = option(func)
    return func


def run_plan(
    broker: str | None,
    images: int,
    data_dir: Path | None,
    workdir: Path,
    model_base_path: Path,
    port: int,
    timeout: float,
    name: str,
    **extra: Any,
) -> Any:
    import time

    from fashion_pubsub.demo.runner import RunPlan

    return RunPlan(
        broker=build(AppSettings, broker=broker).broker,
        images=images,
        data_dir=build(DataSettings, data_dir=data_dir).data_dir,
        run_dir=(workdir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve(),
        model_base_path=model_base_path.resolve(),
        server_port=port,
        infra=build(InfraSettings),
        timeout_seconds=timeout,
        **extra,
    )


@main.command(context_settings=CONTEXT)
@broker_option
@click.option("--images", type=click.IntRange(1, 10_000), default=1000, help="Test images.")
@click.option(
    "--subscribers",
    type=click.IntRange(1, 8),
    default=1,
    help="Subscriber processes sharing the work.",
)
@click.option("--live/--no-live", default=None, help="Live progress view [default: on a terminal]")
@click.option(
    "--dashboard-port",
    type=click.IntRange(0, 65535),
    default=8600,
    help="Serve the live dashboard on 127.0.0.1 at this port (0: no dashboard).",
)
@click.option(
    "--linger",
    type=click.FloatRange(0),
    default=0.0,
    help="Seconds to keep the pipeline and dashboard up after the last result.",
)
@run_options
def demo(
    images: int,
    subscribers: int,
    live: bool | None,
    dashboard_port: int,
    linger: float,
    **options: Any,
) -> None:
    """Run the whole pipeline on test images: start what is missing, publish, classify,
    summarise, write an HTML report; stop what it started."""
    from rich.console import Console

    from fashion_pubsub.demo.command import run_demo

    console = Console()
    plan = run_plan(
        images=images,
        name="demo",
        subscribers=subscribers,
        topics=TopicSettings.for_run("demo"),
        discard_topics=True,
        live=console.is_terminal if live is None else live,
        dashboard_port=dashboard_port or None,
        linger_seconds=linger,
        **options,
    )
    run_demo(plan, console)
