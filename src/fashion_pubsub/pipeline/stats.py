"""Counters of the pipeline, logged periodically for progress and benchmarks."""

import logging
import threading
import time
from dataclasses import dataclass, field

from fashion_pubsub.logs import log_event


@dataclass
class Stats:
    """Counts: published, rejected, predicted, duplicates, dead-lettered, retries."""

    published: int = 0
    rejected: int = 0
    predicted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_log: float = field(default_factory=time.monotonic, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def log_every(self, logger: logging.Logger, seconds: float = 5.0) -> None:
        now = time.monotonic()
        if now - self._last_log >= seconds:
            self._last_log = now
            log_event(logger, "progress", **self.as_dict())
