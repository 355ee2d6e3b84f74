"""The bench's figures: the machine they were measured on, the JSON file and the markdown
table of docs/benchmarks.md."""

import contextlib
import logging
import os
import platform
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fashion_pubsub.brokers.kafka_topics import count_partitions
from fashion_pubsub.infra import kafka
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import BrokerName, InfraSettings, KafkaSettings

logger = logging.getLogger(__name__)

CROWDED_PARTITIONS = 500
"""More partitions than this on the bench's Kafka make its figures incomparable: ~4,100
left by earlier runs cost 2.5 times the broker CPU per image (docs/benchmarks.md)."""


def machine(run_dir: Path) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "workdir_filesystem": filesystem_type(run_dir),
        # A shared machine's load changes every figure: no figure without it.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's name as the kernel reports it, or "unknown". The same code's bursts were
    30-45 % slower on one VM host than on another (docs/benchmarks.md, "A slower host"),
    so figures from different runs compare only when they name their host.

    Args:
        cpuinfo: where the kernel lists the CPUs.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name" and value.strip():
                return value.strip()
    return "unknown"


def where_measured(machine_figures: dict[str, Any]) -> str:
    """The start of a table's first line: the run folders' file system and the CPU (either
    "unknown" in files written before it was recorded)."""
    return (
        f"Input and output folders on {machine_figures.get('workdir_filesystem', 'unknown')}, "
        f"CPU {machine_figures.get('cpu', 'unknown')}"
    )


def broker_figures(infra: InfraSettings, broker: BrokerName) -> dict[str, Any]:
    """What the broker carries as a run starts: on Kafka, its partitions (a warning when
    they are so many that they slow it down); nothing to say on the emulator.

    Args:
        infra: where the local services run.
        broker: the broker being measured.
    """
    if broker != "apache-kafka":
        return {}
    partitions = count_partitions(KafkaSettings(bootstrap=kafka.address(infra)))
    if partitions > CROWDED_PARTITIONS:
        log_event(
            logger,
            "bench_broker_crowded",
            logging.WARNING,
            partitions=partitions,
            advice="delete old topics, or start Kafka on a new --state-dir",
        )
    return {"broker_partitions_at_start": partitions}


def broker_note(broker: str, figures: dict[str, Any]) -> list[str]:
    """A line for the markdown when the broker was crowded (see `broker_figures`)."""
    partitions = figures.get("broker_partitions_at_start")
    if partitions is None or partitions <= CROWDED_PARTITIONS:
        return []
    return [
        f"\n**{broker} carried {partitions:,} partitions at the start**: these figures "
        "are slower than a clean broker's and not comparable."
    ]


def filesystem_type(path: Path) -> str:
    """The file system holding `path` ("ext4", "tmpfs", ...), from /proc/self/mountinfo;
    "unknown" elsewhere. The pipeline creates a file per image, and what that costs
    depends on the file system far more than on anything else (docs/benchmarks.md)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    target = str(path.resolve())
    best, kind = "", "unknown"
    for line in lines:
        fields = line.split()
        mount_point, fstype = fields[4], fields[fields.index("-") + 1]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fstype
    return kind


def write_outputs(
    figures: dict[str, Any],
    json_path: Path,
    render: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """Write the JSON figures and return (and write beside it) the markdown table.

    Args:
        figures: what a bench measured.
        json_path: the JSON file; the markdown goes beside it as `.md`.
        render: turns the figures into markdown (default: the pipeline bench's table).
    """
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    markdown = (render or markdown_table)(figures)
    json_path.with_suffix(".md").write_text(markdown)
    return markdown


def markdown_table(figures: dict[str, Any]) -> str:
    lines = [
        f"{where_measured(figures['machine'])}.",
        "",
        "| broker | path | images | images/s | p50 ms | p95 ms | p99 ms | accuracy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for broker, runs in figures["brokers"].items():
        for name in ("pipeline", "half_rate", "baseline"):
            run = runs[name]
            latency = run["latency_ms"]
            accuracy = "n/a" if run["accuracy"] is None else f"{run['accuracy']:.4f}"
            lines.append(
                f"| {broker} | {name} | {run['images']} | {run['images_per_second']:,.0f} | "
                f"{latency['p50']:.0f} | {latency['p95']:.0f} | {latency['p99']:.0f} | "
                f"{accuracy} |"
            )
        lines.append(f"| {broker} | **speed-up** | | **{runs['speedup']}×** | | | | |")
    for broker, runs in figures["brokers"].items():
        lines.extend(_rounds_note(broker, runs))
        lines.extend(broker_note(broker, runs))
    return "\n".join(lines) + "\n"


def _rounds_note(broker: str, runs: dict[str, Any]) -> list[str]:
    rates = runs.get("pipeline_rounds", [])
    if len(rates) < 2:
        return []
    p99s = [latency["p99"] for latency in runs["half_rate_rounds"]]
    return [
        f"\n{broker} pipeline: {len(rates)} rounds, "
        + " / ".join(f"{rate:,.0f}" for rate in rates)
        + f" images/s; the best is shown (median {statistics.median(rates):,.0f}).",
        f"{broker} half_rate: {len(p99s)} rounds, p99 "
        + " / ".join(f"{p99:.0f}" for p99 in p99s)
        + " ms; the median round is shown.",
    ]
