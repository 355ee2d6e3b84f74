"""Reading the subscriber's append-only results log while it grows."""

from pathlib import Path
from typing import Any

from fashion_pubsub.demo.summary import Outcome
from fashion_pubsub.pipeline.results import RecordTail


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
