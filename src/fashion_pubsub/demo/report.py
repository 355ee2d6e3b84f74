"""A self-contained HTML report of a run: summary, sample gallery, confusion matrix,
latency histogram, a stacked chart of the latency stages, and a table naming every image."""

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.demo.stage_chart import stage_chart, stage_table
from fashion_pubsub.demo.summary import Outcome, Summary
from fashion_pubsub.files import write_atomically

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{margin-bottom:0}.muted{color:#666}table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right;font-size:.85rem}
th{background:#f4f4f4}.gallery{display:flex;flex-wrap:wrap;gap:.5rem}
figure{margin:0;width:96px;text-align:center;font-size:.7rem}
figure img{width:84px;height:84px;image-rendering:pixelated;border:3px solid #2a2}
figure.wrong img{border-color:#d22}.kpi{display:flex;gap:2rem;margin:1rem 0}
.kpi div{font-size:1.6rem}.kpi span{display:block;font-size:.8rem;color:#666}
"""


def write_report(
    path: Path,
    title: str,
    summary: Summary,
    outcomes: Sequence[Outcome],
    output_dir: Path,
    *,
    samples: int = 40,
) -> Path:
    """Write the report to `path` (atomically) and return it."""
    body = "\n".join(
        [
            f"<h1>{html.escape(title)}</h1>",
            _kpis(summary),
            "<h2>Sample predictions</h2>",
            _gallery(_pick_samples(outcomes, samples), output_dir),
            "<h2>Confusion matrix</h2><p class=muted>rows: true class, columns: predicted</p>",
            _confusion(summary.confusion),
            "<h2>Per-class accuracy</h2>",
            _per_class(summary.per_class_accuracy),
            "<h2>Latency, file in the input folder to result written</h2>",
            _histogram([o.latency_ms for o in outcomes]),
            "<h2>Where the time goes, stage by stage</h2>",
            stage_chart([o.stages for o in outcomes]),
            stage_table(summary.stages_ms),
            f"<h2>All {len(outcomes)} images</h2>",
            _all_rows(outcomes),
        ]
    )
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}"
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, page.encode())
    return path


def _kpis(summary: Summary) -> str:
    accuracy = "n/a" if summary.accuracy is None else f"{summary.accuracy:.4f}"
    items = [
        ("images", f"{summary.images:,}"),
        ("accuracy", accuracy),
        ("images/s", f"{summary.images_per_second:,.0f}"),
        ("p50 latency", f"{summary.latency_ms['p50']:.0f} ms"),
        ("p99 latency", f"{summary.latency_ms['p99']:.0f} ms"),
        ("rejected", str(summary.rejected)),
        ("dead-lettered", str(summary.dead_lettered)),
    ]
    cells = "".join(f"<div>{value}<span>{name}</span></div>" for name, value in items)
    return f"<div class=kpi>{cells}</div>"


def _pick_samples(outcomes: Sequence[Outcome], count: int) -> list[Outcome]:
    wrong = [o for o in outcomes if o.true_label is not None and o.true_label != o.predicted]
    right = [o for o in outcomes if o.true_label is None or o.true_label == o.predicted]
    shown_wrong = wrong[: count // 4]
    return shown_wrong + right[: count - len(shown_wrong)]


def _gallery(samples: Sequence[Outcome], output_dir: Path) -> str:
    figures = []
    for sample in samples:
        image = output_dir / sample.output
        data = base64.b64encode(image.read_bytes()).decode() if image.is_file() else ""
        truth = "?" if sample.true_label is None else CLASS_NAMES[sample.true_label]
        wrong = sample.true_label is not None and sample.true_label != sample.predicted
        caption = (
            f"{html.escape(sample.source)}<br>{html.escape(CLASS_NAMES[sample.predicted])}"
            f" {sample.confidence:.2f}<br><span class=muted>true: {html.escape(truth)}</span>"
        )
        figures.append(
            f"<figure class={'wrong' if wrong else 'right'}>"
            f"<img alt='' src='data:image/png;base64,{data}'>"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return f"<div class=gallery>{''.join(figures)}</div>"


def _confusion(confusion: list[list[int]]) -> str:
    peak = max((max(row) for row in confusion), default=0) or 1
    head = "".join(f"<th>{html.escape(n)}</th>" for n in CLASS_NAMES)
    rows = []
    for name, row in zip(CLASS_NAMES, confusion, strict=True):
        cells = "".join(
            f"<td style='background:rgba(40,110,200,{count / peak:.2f})'>{count}</td>"
            for count in row
        )
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _per_class(per_class: dict[str, float | None]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{'n/a' if v is None else f'{v:.3f}'}</td></tr>"
        for name, v in per_class.items()
    )
    return f"<table>{cells}</table>"


def _histogram(latencies: Sequence[float], bins: int = 30) -> str:
    if not latencies:
        return "<p class=muted>no results</p>"
    counts, edges = np.histogram(np.asarray(latencies), bins=bins)
    width, height, peak = 600, 160, max(int(counts.max()), 1)
    bar = width / bins
    bars = "".join(
        f"<rect x='{i * bar:.1f}' y='{height - c / peak * height:.1f}' width='{bar - 1:.1f}' "
        f"height='{c / peak * height:.1f}' fill='#2866c8'><title>{edges[i]:.0f}-"
        f"{edges[i + 1]:.0f} ms: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    axis = (
        f"<text x='0' y='{height + 14}' font-size='11'>{edges[0]:.0f} ms</text>"
        f"<text x='{width}' y='{height + 14}' font-size='11' text-anchor='end'>"
        f"{edges[-1]:.0f} ms</text>"
    )
    return f"<svg width='{width}' height='{height + 20}'>{bars}{axis}</svg>"


def _all_rows(outcomes: Sequence[Outcome]) -> str:
    head = (
        "<tr><th>source</th><th>output</th><th>predicted</th><th>confidence</th>"
        "<th>true</th><th>latency ms</th><th>model version</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(o.source)}</td><td>{html.escape(o.output)}</td>"
        f"<td>{html.escape(CLASS_NAMES[o.predicted])}</td><td>{o.confidence:.3f}</td>"
        f"<td>{'' if o.true_label is None else html.escape(CLASS_NAMES[o.true_label])}</td>"
        f"<td>{o.latency_ms:.1f}</td><td>{html.escape(o.model_version)}</td></tr>"
        for o in outcomes
    )
    return f"<table>{head}{rows}</table>"
