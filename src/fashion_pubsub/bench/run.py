"""`fashion-pubsub bench`: the pipeline against the old design's data path, same machine,
same model, same run. The figures are written by `fashion_pubsub.bench.figures`."""

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fashion_pubsub.bench.figures import broker_figures, machine
from fashion_pubsub.demo.errors import RunTimeoutError
from fashion_pubsub.demo.feeder import ImageFeeder
from fashion_pubsub.demo.runner import RunPlan, broker_for, run_pipeline, use_topics
from fashion_pubsub.demo.stack import Stack
from fashion_pubsub.demo.summary import ResultsTail, Summary, first_seen, summarize
from fashion_pubsub.infra import kafka, pubsub_emulator
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import BrokerName, TopicSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchPlan:
    """Args:
    base: the run settings shared by every measurement (run_dir is a parent folder).
    brokers: which brokers to measure.
    images: images for the full-speed run of the pipeline.
    baseline_images: images for the old path (it is slow; its rate does not need 10,000).
    paced_images: images for the latency run at half the maximum rate.
    warmup_images: images sent through the pipeline first, not measured (0: none).
    rounds: how many times the full-speed and the half-rate runs are each repeated.
    """

    base: RunPlan
    brokers: tuple[BrokerName, ...]
    images: int
    baseline_images: int
    paced_images: int
    warmup_images: int = 0
    rounds: int = 1


def run_bench(plan: BenchPlan) -> dict[str, Any]:
    """Measure each broker: full speed, half speed (latency), and the old path."""
    figures: dict[str, Any] = {
        "machine": machine(plan.base.run_dir),
        "started": time.time(),
        "brokers": {},
    }
    for broker in plan.brokers:
        figures["brokers"][broker] = _bench_broker(plan, broker)
    return figures


def _bench_broker(plan: BenchPlan, broker: BrokerName) -> dict[str, Any]:
    root = plan.base.run_dir / broker
    fast = unique_topics(
        replace(plan.base, broker=broker, images=plan.images, run_dir=root / "max")
    )
    # One broker and one model server for all three runs: none pays for a cold start.
    with Stack(plan.base.infra, root / "logs") as stack:
        stack.ensure_broker(broker)
        stack.ensure_model_server(fast.status_url, fast.model_base_path, fast.server_port)
        return {**broker_figures(plan.base.infra, broker), **_measure(plan, fast, root)}


def _measure(plan: BenchPlan, fast: RunPlan, root: Path) -> dict[str, Any]:
    broker = fast.broker
    if plan.warmup_images:
        # A broker that has just started is a JVM still compiling its hot paths: in the
        # first burst after a cold start, Kafka took twice the CPU per message.
        warmup = replace(fast, images=plan.warmup_images, run_dir=root / "warm-up")
        run_pipeline(unique_topics(warmup))
    # This VM's own speed varies: the same CPU-bound loop takes ~18 ms or 27-32 ms of CPU
    # from one second to the next on an idle machine (docs/benchmarks.md). Capacity is the
    # best of several rounds, as timeit takes the fastest repeat; the latency is the median.
    fulls = run_rounds(fast, plan.rounds, root, "max")
    full = max(fulls, key=lambda summary: summary.images_per_second)
    log_event(logger, "bench_max", broker=broker, images_per_second=full.images_per_second)
    half = max(full.images_per_second / 2, 1.0)
    # Every image of the run counts, the first second's too (it was once measured apart).
    paced_plan = replace(fast, images=min(plan.paced_images, plan.images), rate=half)
    paceds = run_rounds(paced_plan, plan.rounds, root, "half-rate")
    paced = sorted(paceds, key=lambda summary: summary.latency_ms["p99"])[len(paceds) // 2]
    baseline = run_baseline(
        unique_topics(replace(fast, images=plan.baseline_images, run_dir=root / "baseline"))
    )
    return {
        "warmup_images": plan.warmup_images,
        "pipeline": full.as_dict(),
        "pipeline_rounds": [round(summary.images_per_second, 1) for summary in fulls],
        "half_rate": {"target_images_per_second": round(half, 1), **paced.as_dict()},
        "half_rate_rounds": [_latencies(summary) for summary in paceds],
        "baseline": baseline.as_dict(),
        "speedup": round(full.images_per_second / max(baseline.images_per_second, 1e-9), 1),
    }


def run_rounds(
    plan: RunPlan, count: int, root: Path, name: str, *, fresh_topics: bool = True
) -> list[Summary]:
    """`count` runs of `plan`, in `root/<name>-1`, `root/<name>-2`, ..., each on its own
    topics, or with `fresh_topics` False all on `plan.topics`."""
    rounds = [replace(plan, run_dir=root / f"{name}-{n}") for n in range(1, count + 1)]
    return [run_pipeline(unique_topics(each) if fresh_topics else each).summary for each in rounds]


def _latencies(summary: Summary) -> dict[str, object]:
    return {**summary.latency_ms}


def unique_topics(plan: RunPlan) -> RunPlan:
    return replace(plan, topics=TopicSettings.for_run("bench"), discard_topics=True)


def run_baseline(plan: RunPlan) -> Summary:
    """The old data path on the same broker and model server (see bench/baseline.py)."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    with Stack(plan.infra, plan.folder("logs")) as stack:
        stack.ensure_broker(plan.broker)
        stack.ensure_model_server(plan.status_url, plan.model_base_path, plan.server_port)
        use_topics(plan, stack, broker_for(plan, partitions=1))
        ImageFeeder(
            plan.data_dir, plan.folder("input-images"), plan.first_index, plan.images
        ).write_all()
        common = [
            "baseline",
            "--broker",
            plan.broker,
            "--count",
            str(plan.images),
            "--bootstrap",
            kafka.address(plan.infra),
        ]
        env = {"PUBSUB_EMULATOR_HOST": pubsub_emulator.address(plan.infra)}
        output = plan.folder("predicted-images")
        kafka_run = plan.broker == "apache-kafka"
        source = plan.topics.input_topic if kafka_run else plan.topics.subscription
        stack.spawn(
            "baseline-subscriber",
            [
                *common,
                "subscribe",
                "--source",
                source,
                "--url",
                plan.predict_url,
                "--output",
                str(output),
            ],
            env,
        )
        stack.spawn(
            "baseline-publisher",
            [
                *common,
                "publish",
                "--topic",
                plan.topics.input_topic,
                "--input",
                str(plan.folder("input-images")),
                "--published",
                str(plan.folder("published-images")),
            ],
            env,
        )
        tail = ResultsTail([output / "results.jsonl"])
        deadline = time.monotonic() + plan.timeout_seconds
        while len(tail.outcomes) < plan.images:
            if time.monotonic() > deadline:
                raise RunTimeoutError(f"baseline: {len(tail.outcomes)} of {plan.images} done")
            stack.check_alive("baseline-subscriber")
            time.sleep(0.2)
            tail.poll()
    outcomes = list(tail.outcomes.values())
    return summarize(outcomes, first_seen(outcomes))
