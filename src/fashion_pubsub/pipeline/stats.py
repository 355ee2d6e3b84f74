"""Counters of the pipeline, logged periodically for progress and benchmarks, and passed on
to the process's Prometheus metrics (observability/metrics.py) when it has them."""

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fashion_pubsub.logs import log_event
from fashion_pubsub.observability.metrics import ProcessMetrics


@dataclass
class Stats:
    """Counts: published, rejected, predicted, duplicates, dead-lettered, retries.

    Args:
        metrics: where each count also goes, with its labels (reason, class); the
            default counts nowhere else.
    """

    published: int = 0
    rejected: int = 0
    predicted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    metrics: ProcessMetrics = field(default_factory=ProcessMetrics, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_log: float = field(default_factory=time.monotonic, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)
        for name, value in counts.items():
            self.metrics.count(name, value)

    def add_rejected(self, reason: str) -> None:
        """One file moved to rejected/ for `reason`."""
        self.add(rejected=1)
        self.metrics.reject(reason)

    def add_dead_lettered(self, reasons: Sequence[str]) -> None:
        """Messages confirmed on the dead-letter topic, one reason each."""
        self.add(dead_lettered=len(reasons))
        self.metrics.dead_letter(reasons)

    def add_predicted(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Result records written: counted by class, with their latencies."""
        self.add(predicted=len(records))
        self.metrics.predicted(records)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k != "metrics"}

    def log_every(self, logger: logging.Logger, seconds: float = 5.0) -> None:
        now = time.monotonic()
        if now - self._last_log >= seconds:
            self._last_log = now
            log_event(logger, "progress", **self.as_dict())
