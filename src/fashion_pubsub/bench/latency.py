"""`fashion-pubsub bench --latency`: the pipeline at fixed input rates and at half its
measured maximum, several rounds each, on each broker.

A feeder renames files into the input folder on a fixed schedule and takes its own
timestamp for each, so the latency starts where a user's file appears, not where the
product notices it; every image of every round counts. Each round reports p50, p99 and
max, and the per-stage breakdown (`pipeline.latency`), and says whether it met its goal.
"""

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fashion_pubsub.bench.figures import broker_figures, broker_note, machine, where_measured
from fashion_pubsub.bench.run import run_rounds, unique_topics
from fashion_pubsub.demo.runner import RunPlan, broker_for, run_pipeline, use_topics
from fashion_pubsub.demo.stack import Stack
from fashion_pubsub.demo.stages import END_TO_END
from fashion_pubsub.demo.summary import Summary
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.latency import STAGES
from fashion_pubsub.settings import BrokerName, TopicSettings

logger = logging.getLogger(__name__)
HALF = "half"
"""The rate label of half the measured maximum."""
GOALS_P99_MS: dict[str, float] = {"1000": 25.0, HALF: 50.0}
"""p99 goals per rate label (issue 18); other rates are measured without a goal."""


@dataclass(frozen=True)
class LatencyPlan:
    """Args:
    base: run settings shared by every run (run_dir is a parent folder).
    brokers: which brokers to measure.
    rates: fixed input rates, images per second.
    half: also run at half the measured maximum (a burst of `burst_images` first).
    burst_images: images of the burst that measures the maximum (best of `rounds`).
    paced_images: images per paced round (capped by the test set).
    warmup_images: images sent through first, unmeasured (0: none).
    rounds: rounds per rate (and bursts for the maximum).
    """

    base: RunPlan
    brokers: tuple[BrokerName, ...]
    rates: tuple[float, ...] = (200.0, 1000.0, 2000.0)
    half: bool = True
    burst_images: int = 10_000
    paced_images: int = 3000
    warmup_images: int = 2000
    rounds: int = 3


def run_latency_bench(plan: LatencyPlan) -> dict[str, Any]:
    """Measure each broker at each rate, `plan.rounds` times.

    Args:
        plan: what to measure.
    """
    figures: dict[str, Any] = {
        "kind": "latency",
        "machine": machine(plan.base.run_dir),
        "started": time.time(),
        "brokers": {},
    }
    for broker in plan.brokers:
        root = plan.base.run_dir / broker
        topics = TopicSettings.for_run("bench")
        first = replace(plan.base, broker=broker, run_dir=root / "warm-up", topics=topics)
        with Stack(plan.base.infra, root / "logs") as stack:
            stack.ensure_broker(broker)
            stack.ensure_model_server(first.status_url, first.model_base_path, first.server_port)
            shared = _shares_topics(broker)
            if shared:
                use_topics(replace(first, discard_topics=True), stack, broker_for(first))
            figures["brokers"][broker] = {
                **broker_figures(plan.base.infra, broker),
                **_measure_broker(plan, first, root, shared),
            }
    return figures


def _shares_topics(broker: BrokerName) -> bool:
    """Whether every run on `broker` uses one set of topics and one consumer group, deleted
    at the end, as a user keeps them while the pipeline's processes come and go.

    On Kafka they do: brand-new topics made the first ~0.1 s of a round about twice as
    slow (docs/benchmarks.md, "New topics"), a cost paid once per topic, not per run. The
    emulator keeps every message in its heap (256 MB), and the predictions' `-keep`
    subscription keeps them all: a whole bench on one set of topics ran it out of memory,
    so there each run has topics of its own, deleted when it ends.
    """
    return broker == "apache-kafka"


def _measure_broker(plan: LatencyPlan, first: RunPlan, root: Path, shared: bool) -> dict[str, Any]:
    if plan.warmup_images:
        warm_up = replace(first, images=plan.warmup_images)
        run_pipeline(warm_up if shared else unique_topics(warm_up))
    rates: list[tuple[str, float]] = [(f"{rate:g}", rate) for rate in plan.rates]
    result: dict[str, Any] = {"rates": [], "shared_topics": shared}
    if plan.half:
        burst = replace(first, images=plan.burst_images, rate=None)
        bursts = run_rounds(burst, plan.rounds, root, "max", fresh_topics=not shared)
        best = max(summary.images_per_second for summary in bursts)
        result["max_images_per_second"] = round(best, 1)
        result["max_rounds"] = [round(s.images_per_second, 1) for s in bursts]
        rates.append((HALF, max(best / 2, 1.0)))
    for label, rate in rates:
        paced = replace(first, images=plan.paced_images, rate=rate)
        summaries = run_rounds(paced, plan.rounds, root, f"rate-{label}", fresh_topics=not shared)
        result["rates"].append(_rate_figures(label, rate, summaries))
        log_event(logger, "bench_latency_rate", broker=first.broker, rate=label)
    return result


def _rate_figures(label: str, rate: float, summaries: list[Summary]) -> dict[str, Any]:
    goal = GOALS_P99_MS.get(label)
    rounds = [_round_figures(summary, goal) for summary in summaries]
    return {
        "rate": label,
        "images_per_second": round(rate, 1),
        "goal_p99_ms": goal,
        "rounds": rounds,
        "rounds_met": None if goal is None else sum(1 for r in rounds if r["met"]),
    }


def _round_figures(summary: Summary, goal: float | None) -> dict[str, Any]:
    latency = summary.latency_ms
    return {
        "images": summary.images,
        "achieved_images_per_second": round(summary.images_per_second, 1),
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "met": None if goal is None else latency["p99"] <= goal,
        "stages_ms": summary.stages_ms,
    }


def worst_round(rate: dict[str, Any]) -> dict[str, Any]:
    """The round of `rate` with the highest p99.

    Args:
        rate: one entry of a broker's `rates`.
    """
    rounds: list[dict[str, Any]] = rate["rounds"]
    return max(rounds, key=lambda r: float(r["p99_ms"]))


def latency_markdown(figures: dict[str, Any]) -> str:
    """Every round of every rate, then the per-stage breakdown of each broker's worst round.

    Args:
        figures: what `run_latency_bench` returned.
    """
    machine_figures = figures["machine"]
    lines = [
        f"{where_measured(machine_figures)}, "
        f"load average at start {machine_figures.get('load_average_at_start', 'unknown')}; "
        "latency from the feeder renaming a file into the input folder to its output file "
        "written, every image of every round.",
        "",
        "| broker | rate (images/s) | round | images | achieved/s | p50 ms | p99 ms | max ms "
        "| goal p99 | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for broker, result in figures["brokers"].items():
        for rate in result["rates"]:
            name = rate["rate"]
            if name == HALF:
                name = f"half max ({rate['images_per_second']:,.0f})"
            goal = "" if rate["goal_p99_ms"] is None else f"{rate['goal_p99_ms']:g}"
            for n, r in enumerate(rate["rounds"], 1):
                met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
                lines.append(
                    f"| {broker} | {name} | {n} | {r['images']} | "
                    f"{r['achieved_images_per_second']:,.0f} | {r['p50_ms']:.1f} | "
                    f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {goal} "
                    f"| {met} |"
                )
    lines.append("")
    for broker, result in figures["brokers"].items():
        if "max_images_per_second" in result:
            lines.append(
                f"{broker}: maximum (best burst) {result['max_images_per_second']:,.0f} images/s "
                f"(rounds: {' / '.join(f'{x:,.0f}' for x in result['max_rounds'])})."
            )
        for rate in result["rates"]:
            if rate["rounds_met"] is not None:
                lines.append(
                    f"{broker} at {rate['rate']}: goal p99 <= {rate['goal_p99_ms']:g} ms met in "
                    f"{rate['rounds_met']} of {len(rate['rounds'])} rounds."
                )
        if result.get("shared_topics"):
            lines.append(f"{broker}: one set of topics for every run.")
        else:
            lines.append(f"{broker}: new topics for each run.")
        lines.extend(broker_note(broker, result))
    lines.extend(_worst_breakdowns(figures))
    return "\n".join(lines) + "\n"


def _worst_breakdowns(figures: dict[str, Any]) -> list[str]:
    lines = []
    for broker, result in figures["brokers"].items():
        candidates = [(rate, worst_round(rate)) for rate in result["rates"] if rate["rounds"]]
        if not candidates:
            continue
        rate, worst = max(candidates, key=lambda pair: float(pair[1]["p99_ms"]))
        lines += [
            "",
            f"{broker}, worst round (rate {rate['rate']}, p99 {worst['p99_ms']:.1f} ms), "
            "per stage (ms):",
            "",
            "| stage | mean | p50 | p99 | max |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for stage in (*STAGES, END_TO_END):
            figure = worst["stages_ms"].get(stage)
            if figure:
                lines.append(
                    f"| {stage} | {figure['mean']:.2f} | {figure['p50']:.2f} | "
                    f"{figure['p99']:.2f} | {figure['max']:.2f} |"
                )
    return lines
