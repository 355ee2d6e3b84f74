"""`fashion-pubsub demo`: one run, its summary on the terminal, its report on disk."""

import orjson
from rich.console import Console

from fashion_pubsub.demo.console import print_summary
from fashion_pubsub.demo.observe import dashboard_url
from fashion_pubsub.demo.report import write_report
from fashion_pubsub.demo.runner import RunPlan, run_pipeline


def run_demo(plan: RunPlan, console: Console) -> None:
    """Run the pipeline, print the summary, write report.html and summary.json."""
    console.print(f"run folder: {plan.run_dir}")
    if plan.dashboard_port is not None:
        console.print(f"dashboard: {dashboard_url(plan.dashboard_port)} (live while the run lasts)")
    result = run_pipeline(plan)
    title = f"fashion-pubsub demo: {plan.images} images over {plan.broker}"
    print_summary(result.summary, title, console)
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
