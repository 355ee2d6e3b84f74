"""What a run achieved: accuracy against the true labels, speed, latency, per class; read
from the subscriber's results log as it grows."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.demo.stages import END_TO_END, percentiles, stage_figures
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
    seen_at: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


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
    stages_ms: dict[str, dict[str, Any]] = field(default_factory=dict)
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
            "stages_ms": self.stages_ms,
            **self.extra,
        }


def first_seen(outcomes: Sequence[Outcome]) -> float:
    """When the publisher picked up the earliest of `outcomes` (epoch seconds; 0 if there
    are none), where throughput is counted from. Latency counts from a file's arrival,
    but in a burst every file arrives before the publisher starts, and its start-up is
    not the pipeline's rate. Records without `seen_at`: the result's time less its
    end-to-end latency."""
    return min((o.seen_at or o.finished_at - o.latency_ms / 1000 for o in outcomes), default=0.0)


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
        stages_ms=stage_figures([o.stages for o in outcomes]),
        per_class_accuracy=per_class,
        confusion=confusion.tolist(),
        rejected=rejected,
        dead_lettered=dead_lettered,
    )


def from_arrivals(outcomes: Sequence[Outcome], arrivals: Mapping[str, float]) -> list[Outcome]:
    """The outcomes with their latency counted from `arrivals` (source file name -> Unix
    time it was put into the input folder, as the bench's feeder timed it) instead of
    from the file's ctime: `pickup` and `end_to_end` change, the other stages not.

    Args:
        outcomes: the run's outcomes.
        arrivals: the feeder's own timestamps; an outcome without one is kept as it is.
    """
    rebased = []
    for outcome in outcomes:
        arrived = arrivals.get(outcome.source)
        if arrived is None or not outcome.seen_at:
            rebased.append(outcome)
            continue
        end_to_end = round((outcome.finished_at - arrived) * 1000, 3)
        stages = {
            **outcome.stages,
            "pickup": round((outcome.seen_at - arrived) * 1000, 3),
            END_TO_END: end_to_end,
        }
        rebased.append(replace(outcome, latency_ms=end_to_end, stages=stages))
    return rebased


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
    latency = record.get("latency_ms", {})
    return Outcome(
        image_id=str(record["image_id"]),
        source=str(record.get("source_file", "")),
        output=str(record.get("output_file", "")),
        predicted=int(record["predicted_label"]),
        confidence=float(record.get("confidence", 0.0)),
        true_label=None if true_label is None else int(true_label),
        latency_ms=float(latency.get("end_to_end", 0.0)),
        finished_at=float(record.get("written_at", 0.0)),
        model_version=str(record.get("model_version", "")),
        seen_at=float(record.get("seen_at", 0.0)),
        stages={str(k): float(v) for k, v in latency.items()},
    )
