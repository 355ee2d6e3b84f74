"""`bench`, and the old design's publisher and subscriber it measures against."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import CONTEXT, F, main
from fashion_pubsub.cli.demo import run_options, run_plan
from fashion_pubsub.settings import BROKER_NAMES


def _images_option(flag: str, default: int, help: str, least: int = 1) -> Callable[[F], F]:
    return click.option(flag, type=click.IntRange(least, 10_000), default=default, help=help)


@main.command(context_settings=CONTEXT)
@click.option(
    "--brokers", default="apache-kafka,google-pubsub", help="Comma-separated brokers to measure."
)
@_images_option("--images", 10_000, "Images for the full-speed run.")
@_images_option("--baseline-images", 2000, "Images for the old design's path.")
@_images_option("--paced-images", 3000, "Images for the latency run at half the maximum rate.")
@_images_option(
    "--warmup-images",
    2000,
    "Images sent through the pipeline first, unmeasured, so a just-started broker "
    "is measured warm (0: none).",
    least=0,
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
    default=None,
    help="JSON figures (and .md beside); default bench/results/pipeline.json, or "
    "latency.json with --latency.",
)
@click.option(
    "--latency",
    is_flag=True,
    help="Latency bench instead: each of --rates and half the maximum (a burst of --images "
    "first), --rounds rounds of --paced-images each, p50/p99/max and the stages per round.",
)
@click.option(
    "--rates",
    default="200,1000,2000",
    help="With --latency: comma-separated input rates (images/s).",
)
@click.option("--half/--no-half", default=True, help="With --latency: also half the maximum.")
@run_options
def bench(
    brokers: str,
    images: int,
    baseline_images: int,
    paced_images: int,
    warmup_images: int,
    rounds: int,
    output: Path | None,
    latency: bool,
    rates: str,
    half: bool,
    **options: Any,
) -> None:
    """Measure the pipeline on each broker against the old design's data path, or with
    --latency its latency at fixed rates."""
    from fashion_pubsub.bench.figures import write_outputs
    from fashion_pubsub.bench.run import BenchPlan, run_bench

    names = tuple(b.strip() for b in brokers.split(",") if b.strip())
    unknown = [b for b in names if b not in BROKER_NAMES]
    if unknown:
        raise click.UsageError(f"unknown broker(s) {unknown}; choose from {BROKER_NAMES}")
    if latency:
        from fashion_pubsub.bench.latency import LatencyPlan, latency_markdown, run_latency_bench

        target = output or Path("bench/results/latency.json")
        latency_plan = LatencyPlan(
            base=run_plan(broker=None, images=images, name="bench-latency", **options),
            brokers=names,  # type: ignore[arg-type]
            rates=_rates(rates),
            half=half,
            burst_images=images,
            paced_images=paced_images,
            warmup_images=warmup_images,
            rounds=rounds,
        )
        click.echo(write_outputs(run_latency_bench(latency_plan), target, latency_markdown))
        click.echo(f"figures written to {target} and {target.with_suffix('.md')}")
        return
    output = output or Path("bench/results/pipeline.json")
    plan = BenchPlan(
        base=run_plan(broker=None, images=images, name="bench", **options),
        brokers=names,  # type: ignore[arg-type]
        images=images,
        baseline_images=baseline_images,
        paced_images=paced_images,
        warmup_images=warmup_images,
        rounds=rounds,
    )
    click.echo(write_outputs(run_bench(plan), output))
    click.echo(f"figures written to {output} and {output.with_suffix('.md')}")


def _rates(text: str) -> tuple[float, ...]:
    """'200,1000' -> (200.0, 1000.0); a usage error for anything but positive numbers."""
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise click.UsageError(f"--rates takes numbers separated by commas, got {text!r}") from exc
    if not all(0 < rate <= 100_000 for rate in rates):
        raise click.UsageError(f"--rates must lie between 0 and 100,000 images/s, got {text!r}")
    return rates


@main.group(context_settings=CONTEXT, hidden=True)
@click.option("--broker", type=click.Choice(BROKER_NAMES), required=True)
@click.option("--count", type=click.IntRange(1), required=True, help="Images, then exit.")
@click.option("--bootstrap", default="127.0.0.1:9092", help="Kafka's address.")
@click.option("--project", default="fashion-pubsub-local", help="The Pub/Sub project.")
@click.pass_context
def baseline(ctx: click.Context, /, **common: Any) -> None:
    """The old design's data path, run by `bench` to measure against (not for users)."""
    ctx.obj = common


@baseline.command(context_settings=CONTEXT)
@click.option("--topic", required=True)
@click.option("--input", "input_dir", type=click.Path(path_type=Path), required=True)
@click.option("--published", type=click.Path(path_type=Path), required=True)
@click.pass_obj
def publish(common: dict[str, Any], topic: str, input_dir: Path, published: Path) -> None:
    """Poll the folder and send each image, waiting for the broker after every one."""
    from fashion_pubsub.bench.baseline import run_publisher

    run_publisher(topic=topic, input_dir=input_dir, published=published, **common)


@baseline.command(context_settings=CONTEXT)
@click.option("--source", required=True, help="The Kafka topic or the Pub/Sub subscription.")
@click.option("--url", required=True, help="TF Serving predict URL.")
@click.option("--output", type=click.Path(path_type=Path), required=True)
@click.pass_obj
def subscribe(common: dict[str, Any], source: str, url: str, output: Path) -> None:
    """Acknowledge, then classify, one message at a time."""
    from fashion_pubsub.bench.baseline import run_subscriber

    run_subscriber(source=source, url=url, output=output, **common)
