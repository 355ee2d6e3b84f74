"""What a run achieved: accuracy against the true labels, speed, latency, per class; read
from the subscriber's results log as it grows."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.pipeline.results import RecordTail


@dataclass(frozen=True)
class Outcome:
    """One classified image, as the summary and report need it."""

    image_id: str
    source: str
    output: str
    predicted: int
    confidence: float
    true_label: int | None
    latency_ms: float
    finished_at: float
    model_version: str = ""


@dataclass(frozen=True)
class Summary:
    """Figures of one run. Accuracy counts only images whose true label is known."""

    images: int
    labelled: int
    correct: int
    seconds: float
    latency_ms: dict[str, float]
    per_class_accuracy: dict[str, float | None]
    confusion: list[list[int]]
    rejected: int = 0
    dead_lettered: int = 0
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "labelled": self.labelled,
            "accuracy": self.accuracy,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 1),
            "latency_ms": self.latency_ms,
            "per_class_accuracy": self.per_class_accuracy,
            "confusion": self.confusion,
            "rejected": self.rejected,
            "dead_lettered": self.dead_lettered,
            **self.extra,
        }


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


def first_seen(outcomes: Sequence[Outcome]) -> float:
    """When the earliest of `outcomes` was seen (epoch seconds; 0 if there are none):
    its result's time less its end-to-end latency."""
    return min((o.finished_at - o.latency_ms / 1000 for o in outcomes), default=0.0)


def summarize(
    outcomes: Sequence[Outcome], started_at: float, *, rejected: int = 0, dead_lettered: int = 0
) -> Summary:
    """Figures of a run that started (first file seen) at `started_at` (epoch seconds)."""
    confusion = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=np.int64)
    for outcome in outcomes:
        if outcome.true_label is not None:
            confusion[outcome.true_label, outcome.predicted] += 1
    labelled = int(confusion.sum())
    totals = confusion.sum(axis=1)
    per_class = {
        name: (round(float(confusion[i, i] / totals[i]), 4) if totals[i] else None)
        for i, name in enumerate(CLASS_NAMES)
    }
    finished = max((o.finished_at for o in outcomes), default=started_at)
    return Summary(
        images=len(outcomes),
        labelled=labelled,
        correct=int(np.trace(confusion)),
        seconds=max(finished - started_at, 0.0),
        latency_ms=percentiles([o.latency_ms for o in outcomes]),
        per_class_accuracy=per_class,
        confusion=confusion.tolist(),
        rejected=rejected,
        dead_lettered=dead_lettered,
    )


# Reading the subscriber's append-only results log while it grows.


class ResultsTail:
    """Reads complete new lines of a JSONL file on each call, keeping the first record per image.

    Args:
        paths: the results logs to follow (one per subscriber process, or one shared).
        sources: if given, only results for these source file names count (a topic may
            still hold messages of an earlier, interrupted run).
    """

    def __init__(self, paths: list[Path], sources: set[str] | None = None) -> None:
        self._paths = paths
        self._tail = RecordTail()
        self._sources = sources
        self.outcomes: dict[str, Outcome] = {}
        self.duplicates = 0

    def poll(self) -> int:
        """Read what was appended since the last call; returns the number of new outcomes."""
        before = len(self.outcomes)
        for record in self._tail.read(self._paths):
            self._add(record)
        return len(self.outcomes) - before

    def _add(self, record: dict[str, Any]) -> None:
        outcome = outcome_from_record(record)
        if self._sources is not None and outcome.source not in self._sources:
            return
        if outcome.image_id in self.outcomes:
            self.duplicates += 1
        else:
            self.outcomes[outcome.image_id] = outcome


def outcome_from_record(record: dict[str, Any]) -> Outcome:
    """Map one results-log record (see docs/wire-format.md) to what the summary needs."""
    true_label = record.get("true_label")
    return Outcome(
        image_id=str(record["image_id"]),
        source=str(record.get("source_file", "")),
        output=str(record.get("output_file", "")),
        predicted=int(record["predicted_label"]),
        confidence=float(record.get("confidence", 0.0)),
        true_label=None if true_label is None else int(true_label),
        latency_ms=float(record.get("latency_ms", {}).get("end_to_end", 0.0)),
        finished_at=float(record.get("written_at", 0.0)),
        model_version=str(record.get("model_version", "")),
    )
