"""What a run achieved: accuracy against the true labels, speed, latency, per class."""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES


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
