"""Per-stage latency figures of a run: percentiles and a histogram for each stage of
`pipeline.latency` and for the end-to-end latency, over every image of the run."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fashion_pubsub.pipeline.latency import STAGES

END_TO_END = "end_to_end"
HISTOGRAM_EDGES_MS = (0, 1, 2, 5, 10, 15, 20, 25, 35, 50, 75, 100, 200, 500, 1000, 2000, 5000)
"""Bucket edges (ms) shared by every stage, so histograms compare across stages and runs;
the last bucket takes everything above its edge, the first anything below 0 (a file's
ctime comes from a coarse kernel clock)."""


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of `values` in the values' unit (empty -> zeros)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    array = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "max": round(float(array.max()), 2),
    }


def histogram(values: Sequence[float]) -> dict[str, list[float] | list[int]]:
    """Counts per bucket of `HISTOGRAM_EDGES_MS`: bucket i holds edges[i] <= v < edges[i+1],
    the last one v >= edges[-1]; values below 0 count in the first.

    Args:
        values: latencies in milliseconds.
    """
    edges = np.asarray(HISTOGRAM_EDGES_MS, dtype=np.float64)
    index = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="right") - 1
    counts = np.bincount(np.clip(index, 0, len(edges) - 1), minlength=len(edges))
    return {"edges_ms": list(HISTOGRAM_EDGES_MS), "counts": [int(c) for c in counts]}


def stage_figures(latencies: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """p50/p95/p99/max, mean and histogram of each stage and of `end_to_end`, in ms.

    Stages missing from a record (results of an older subscriber) are left out of that
    stage's figures only.

    Args:
        latencies: every image's `latency_ms` (stage -> ms).
    """
    figures: dict[str, dict[str, Any]] = {}
    for stage in (*STAGES, END_TO_END):
        values = [latency[stage] for latency in latencies if stage in latency]
        if not values:
            continue
        figures[stage] = {
            **percentiles(values),
            "mean": round(float(np.mean(values)), 3),
            "histogram": histogram(values),
        }
    return figures
