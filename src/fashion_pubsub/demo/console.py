"""Printing a run's summary on the terminal."""

from rich.console import Console
from rich.table import Table

from fashion_pubsub.demo.summary import Summary


def print_summary(summary: Summary, title: str, console: Console) -> None:
    accuracy = "n/a" if summary.accuracy is None else f"{summary.accuracy:.4f}"
    table = Table(title=title, show_header=False, min_width=50)
    table.add_column("figure")
    table.add_column("value", justify="right")
    latency = summary.latency_ms
    for name, value in [
        ("images", f"{summary.images:,}"),
        ("accuracy (true labels)", f"{accuracy} ({summary.correct}/{summary.labelled})"),
        ("throughput", f"{summary.images_per_second:,.0f} images/s over {summary.seconds:.2f} s"),
        (
            "latency p50 / p95 / p99",
            f"{latency['p50']:.0f} / {latency['p95']:.0f} / {latency['p99']:.0f} ms",
        ),
        ("rejected", str(summary.rejected)),
        ("dead-lettered", str(summary.dead_lettered)),
    ]:
        table.add_row(name, value)
    console.print(table)
    per_class = Table(title="per-class accuracy", min_width=50)
    per_class.add_column("class")
    per_class.add_column("accuracy", justify="right")
    for name, share in summary.per_class_accuracy.items():
        per_class.add_row(name, "n/a" if share is None else f"{share:.3f}")
    console.print(per_class)
