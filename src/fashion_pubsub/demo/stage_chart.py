"""The report's picture of where latency goes: images sorted by end-to-end latency and
cut into equal groups, one stacked bar per group with the mean time of each stage, so
the tail's bars show which stage the slow images spent their time in; and a table of
each stage's percentiles and histogram."""

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fashion_pubsub.demo.stages import END_TO_END
from fashion_pubsub.pipeline.latency import STAGES

COLOURS = ("#8c564b", "#9467bd", "#2866c8", "#17becf", "#2ca02c", "#ff7f0e")
"""One per stage of `STAGES`, in order."""


def stacked_means(
    latencies: Sequence[Mapping[str, float]], groups: int = 20
) -> list[tuple[float, list[float]]]:
    """Per group of images (sorted by end-to-end latency, cut into `groups` equal parts,
    fewer if there are fewer images): the largest end-to-end latency in the group and the
    mean of each stage of `STAGES` in it (ms). Images without every stage are left out.

    Args:
        latencies: each image's `latency_ms`.
        groups: how many bars.
    """
    complete = [lat for lat in latencies if all(s in lat for s in (*STAGES, END_TO_END))]
    if not complete:
        return []
    ordered = sorted(complete, key=lambda lat: lat[END_TO_END])
    table = np.asarray([[lat[s] for s in STAGES] for lat in ordered], dtype=np.float64)
    totals = np.asarray([lat[END_TO_END] for lat in ordered], dtype=np.float64)
    bars = []
    for part in np.array_split(np.arange(len(ordered)), min(groups, len(ordered))):
        bars.append((float(totals[part].max()), [float(v) for v in table[part].mean(axis=0)]))
    return bars


def stage_chart(latencies: Sequence[Mapping[str, float]]) -> str:
    """An SVG stacked bar chart (see the module docstring), or a note if no image has
    its stages.

    Args:
        latencies: each image's `latency_ms`.
    """
    bars = stacked_means(latencies)
    if not bars:
        return "<p class=muted>no per-stage latency in these results</p>"
    width, height, left = 640, 18 * len(bars), 110
    peak = max(sum(max(v, 0.0) for v in means) for _, means in bars) or 1.0
    scale = (width - left - 10) / peak
    rows = []
    for row, (slowest, means) in enumerate(bars):
        y, x = row * 18, float(left)
        share = f"{(row + 1) * 100 // len(bars)}%"
        rows.append(f"<text x='0' y='{y + 13}' font-size='11'>≤{share}: {slowest:.0f} ms</text>")
        for stage, colour, value in zip(STAGES, COLOURS, means, strict=True):
            length = max(value, 0.0) * scale
            rows.append(
                f"<rect x='{x:.1f}' y='{y + 2}' width='{length:.1f}' height='14' "
                f"fill='{colour}'><title>{stage}: {value:.2f} ms</title></rect>"
            )
            x += length
    legend = " ".join(
        f"<span style='color:{c}'>■</span> {html.escape(s)}"
        for s, c in zip(STAGES, COLOURS, strict=True)
    )
    return (
        f"<p class=muted>each bar: a {100 // len(bars)}% slice of the images sorted by "
        f"end-to-end latency (label: the slice's slowest); bars: mean ms per stage. "
        f"{legend}</p><svg width='{width}' height='{height}'>{''.join(rows)}</svg>"
    )


def stage_table(stages_ms: Mapping[str, Mapping[str, Any]]) -> str:
    """Each stage's p50/p99/max and its histogram counts, as an HTML table.

    Args:
        stages_ms: a summary's `stages_ms`.
    """
    if not stages_ms:
        return ""
    any_figure = next(iter(stages_ms.values()))
    edges = any_figure["histogram"]["edges_ms"]
    buckets = "".join(f"<th>≥{e} ms</th>" for e in edges)
    rows = "".join(
        f"<tr><th>{html.escape(stage)}</th><td>{f['p50']:.1f}</td><td>{f['p99']:.1f}</td>"
        f"<td>{f['max']:.1f}</td>"
        + "".join(f"<td>{count}</td>" for count in f["histogram"]["counts"])
        + "</tr>"
        for stage, f in stages_ms.items()
    )
    head = f"<tr><th>stage</th><th>p50</th><th>p99</th><th>max</th>{buckets}</tr>"
    return f"<table>{head}{rows}</table>"
