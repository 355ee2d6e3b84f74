"""`fashion-pubsub demo`: one run, its summary on the terminal, its report on disk."""

import orjson
from rich.console import Console
from rich.table import Table

from fashion_pubsub.demo.observe import dashboard_url
from fashion_pubsub.demo.report import write_report
from fashion_pubsub.demo.runner import RunPlan, run_pipeline
from fashion_pubsub.demo.summary import Summary


def run_demo(plan: RunPlan, console: Console) -> None:
    """Run the pipeline, print the summary, write report.html and summary.json."""
    console.print(f"run folder: {plan.run_dir}")
    if plan.dashboard_port is not None:
        console.print(f"dashboard: {dashboard_url(plan.dashboard_port)} (live while the run lasts)")
    result = run_pipeline(plan)
    title = f"fashion-pubsub demo: {plan.images} images over {plan.broker}"
    _print_summary(result.summary, title, console)
    summary_path = plan.folder("summary.json")
    summary_path.write_bytes(orjson.dumps(result.summary.as_dict(), option=orjson.OPT_INDENT_2))
    report = write_report(
        plan.folder("report.html"),
        title,
        result.summary,
        sorted(result.outcomes, key=lambda o: o.source),
        plan.folder("predicted-images"),
    )
    console.print(f"report: {report}")
    console.print(f"summary: {summary_path}")
    if result.started:
        console.print(f"stopped what the demo started: {', '.join(result.started)}")


def _print_summary(summary: Summary, title: str, console: Console) -> None:
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
    if summary.stages_ms:
        stages = Table(title="latency by stage (ms)", min_width=50)
        for column in ("stage", "mean", "p50", "p99", "max"):
            stages.add_column(column, justify="left" if column == "stage" else "right")
        for stage, figure in summary.stages_ms.items():
            stages.add_row(stage, *(f"{figure[key]:.1f}" for key in ("mean", "p50", "p99", "max")))
        console.print(stages)
    per_class = Table(title="per-class accuracy", min_width=50)
    per_class.add_column("class")
    per_class.add_column("accuracy", justify="right")
    for name, share in summary.per_class_accuracy.items():
        per_class.add_row(name, "n/a" if share is None else f"{share:.3f}")
    console.print(per_class)
