"""`demo` and `bench`."""

from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import (
    CONTEXT,
    F,
    broker_option,
    build,
    data_dir_option,
    main,
)
from fashion_pubsub.settings import (
    BROKER_NAMES,
    AppSettings,
    DataSettings,
    InfraSettings,
)


def _run_options(func: F) -> F:
    func = data_dir_option(func)
    func = click.option(
        "--workdir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("workdir"),
        help="Each run gets a new folder in here.",
    )(func)
    func = click.option(
        "--model-base-path",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("models/fashion-model"),
        help="Model repository.",
    )(func)
    func = click.option(
        "--port",
        type=int,
        default=8501,
        help="Model server port (started there unless one answers).",
    )(func)
    func = click.option(
        "--timeout", type=float, default=900.0, help="Seconds to wait for all results of a run."
    )(func)
    return func


def _run_plan(
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
@_run_options
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
    from fashion_pubsub.demo.runner import run_topics

    plan = _run_plan(
        images=images,
        name="demo",
        subscribers=subscribers,
        topics=run_topics("demo"),
        discard_topics=True,
        live=console.is_terminal if live is None else live,
        dashboard_port=dashboard_port or None,
        linger_seconds=linger,
        **options,
    )
    run_demo(plan, console)


@main.command(context_settings=CONTEXT)
@click.option(
    "--brokers", default="apache-kafka,google-pubsub", help="Comma-separated brokers to measure."
)
@click.option(
    "--images",
    type=click.IntRange(1, 10_000),
    default=10_000,
    help="Images for the full-speed run.",
)
@click.option(
    "--baseline-images",
    type=click.IntRange(1, 10_000),
    default=2000,
    help="Images for the old design's path.",
)
@click.option(
    "--paced-images",
    type=click.IntRange(1, 10_000),
    default=3000,
    help="Images for the latency run at half the maximum rate.",
)
@click.option(
    "--warmup-images",
    type=click.IntRange(0, 10_000),
    default=2000,
    help="Images sent through the pipeline first, unmeasured, so a just-started broker "
    "is measured warm (0: none).",
)
@click.option(
    "--rounds",
    type=click.IntRange(1, 9),
    default=3,
    help="Full-speed and half-rate runs per broker: the best rate and the median latency "
    "are reported, every round is recorded.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("bench/results/pipeline.json"),
    help="JSON figures (and .md beside).",
)
@_run_options
def bench(
    brokers: str,
    images: int,
    baseline_images: int,
    paced_images: int,
    warmup_images: int,
    rounds: int,
    output: Path,
    **options: Any,
) -> None:
    """Measure the pipeline on each broker against the old design's data path."""
    from fashion_pubsub.demo.bench import BenchPlan, run_bench, write_outputs

    names = tuple(b.strip() for b in brokers.split(",") if b.strip())
    unknown = [b for b in names if b not in BROKER_NAMES]
    if unknown:
        raise click.UsageError(f"unknown broker(s) {unknown}; choose from {BROKER_NAMES}")
    plan = BenchPlan(
        base=_run_plan(broker=None, images=images, name="bench", **options),
        brokers=names,  # type: ignore[arg-type]
        images=images,
        baseline_images=baseline_images,
        paced_images=paced_images,
        warmup_images=warmup_images,
        rounds=rounds,
    )
    click.echo(write_outputs(run_bench(plan), output))
    click.echo(f"figures written to {output} and {output.with_suffix('.md')}")
