"""Prometheus metrics of `publish` and `subscribe`, each process in its own registry.

Names follow Prometheus' naming guide and the model server's (`fashion_serving_*`,
serving/metrics.py): one prefix per process (`fashion_publisher_`,
`fashion_subscriber_`), the unit last (`_seconds`, `_images`, `_messages`), counters
ending in `_total`. Label values are bounded: reasons become short snake_case kinds
(`reason_kind`), never the free text with file names or numbers in it.

`pipeline/stats.py` feeds these: every count the pipeline keeps goes through `Stats`,
which passes it on to the process's metrics.
"""

import collections
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.observability.batch_histogram import BatchHistogram

PUBLISHER_PREFIX = "fashion_publisher"
SUBSCRIBER_PREFIX = "fashion_subscriber"
# From half a millisecond (a predict of a small batch) to 30 s (a backlog being worked off).
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
_NUMBERS = (float, int)  # not bool: True is no number of milliseconds
_WORDS = re.compile(r"[a-z_]+(?: [a-z_]+)*")
_MAX_WORDS = 4


def reason_kind(reason: str) -> str:
    """A bounded label value for a free-text reason: its leading words, snake_case.

    "damaged or truncated image (broken PNG chunk)" -> "damaged_or_truncated_image";
    "body has 5 bytes, ..." -> "body_has"; "missing attribute(s) [...]" -> "missing_attribute".
    """
    match = _WORDS.match(reason.strip().lower())
    if match is None:
        return "other"
    return "_".join(match.group(0).split()[:_MAX_WORDS])


class ProcessMetrics:
    """The hooks `Stats` calls; each process's metrics fill in those it has. This base
    class records nothing (a process without metrics, or a test).

    Args:
        registry: the process's registry (its metrics endpoint serves it).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()

    def count(self, name: str, value: int) -> None:
        """One of Stats' plain counts (published, duplicates, retries...)."""

    def reject(self, reason: str) -> None:
        """A file moved to rejected/."""

    def dead_letter(self, reasons: Iterable[str]) -> None:
        """Messages confirmed on the dead-letter topic."""

    def predicted(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Result records written (the subscriber's records, see pipeline/subscriber.py)."""


class PublisherMetrics(ProcessMetrics):
    """What `publish` counts."""

    def __init__(self) -> None:
        super().__init__(CollectorRegistry())
        p, registry = PUBLISHER_PREFIX, self.registry
        self.published = Counter(
            f"{p}_images_published", "Images the broker confirmed", registry=registry
        )
        self.rejected = Counter(
            f"{p}_images_rejected",
            "Files moved to rejected/, by reason",
            ["reason"],
            registry=registry,
        )
        self.retries = Counter(
            f"{p}_publish_retries", "Images whose publish failed and is retried", registry=registry
        )
        self.batch_size = Histogram(
            f"{p}_batch_size_images",
            "Images confirmed per broker batch",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )

    def count(self, name: str, value: int) -> None:
        if name == "published" and value:
            self.published.inc(value)
            self.batch_size.observe(value)
        elif name == "retries":
            self.retries.inc(value)

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason_kind(reason)).inc()


class SubscriberMetrics(ProcessMetrics):
    """What `subscribe` counts, and the gauges its monitors set."""

    def __init__(self) -> None:
        super().__init__(CollectorRegistry())
        s, registry = SUBSCRIBER_PREFIX, self.registry
        self.predicted_images = Counter(
            f"{s}_images_predicted",
            "Images classified and recorded, by predicted class",
            ["class_name"],
            registry=registry,
        )
        self.duplicates = Counter(
            f"{s}_duplicates_skipped",
            "Redelivered images that already had a result",
            registry=registry,
        )
        self.dead_lettered = Counter(
            f"{s}_messages_dead_lettered",
            "Messages sent to the dead-letter topic, by reason",
            ["reason"],
            registry=registry,
        )
        self.retries = Counter(
            f"{s}_predict_retries",
            "Predict requests retried while the model server was unavailable",
            registry=registry,
        )
        self.batch_size = Histogram(
            f"{s}_batch_size_images",
            "Images per predict request",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.latency = BatchHistogram(
            f"{s}_stage_latency_seconds",
            "Per image, from its result record: pickup, publish, broker, batch, predict and "
            "write are back to back and add up to end_to_end (file in the input folder to "
            "result written)",
            "stage",
            _LATENCY_BUCKETS,
            registry,
        )
        self.consumer_lag = Gauge(
            f"{s}_consumer_lag_messages",
            "Kafka: messages of the input topic past the consumer group's committed offset",
            ["topic", "partition", "group"],
            registry=registry,
        )
        self.model_version = Gauge(
            f"{s}_model_version_info",
            "1 for the model version that answered the last predict request",
            ["model", "version"],
            registry=registry,
        )
        self._version_in_use: tuple[str, str] | None = None
        # Children resolved once: a labels() lookup per batch would cost more than the
        # increment. Every class shows from the start, at zero; a stage from the first
        # record that has it (the records name them: pipeline/latency.py, which this
        # package does not import).
        self._by_class = {name: self.predicted_images.labels(name) for name in CLASS_NAMES}

    def count(self, name: str, value: int) -> None:
        if name == "duplicates":
            self.duplicates.inc(value)
        elif name == "retries":
            self.retries.inc(value)

    def dead_letter(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.dead_lettered.labels(reason_kind(reason)).inc()

    def predicted(self, records: Iterable[Mapping[str, Any]]) -> None:
        classes: collections.Counter[str] = collections.Counter()
        stages: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
        for record in records:
            classes[str(record.get("predicted_class", "unknown"))] += 1
            latency = record.get("latency_ms")
            # Exact types, not isinstance of an ABC or a union: 1.5 -> 0.9 µs per record.
            # Records are dicts of floats (JSON, when read back).
            if type(latency) is dict:
                for stage, milliseconds in latency.items():
                    if type(milliseconds) in _NUMBERS and type(stage) is str:
                        stages[stage].append(milliseconds)
        for name, count in classes.items():
            child = self._by_class.get(name) or self.predicted_images.labels(name)
            child.inc(count)
        for stage, values in stages.items():
            self.latency.observe(stage, np.maximum(values, 0.0) / 1000)

    def batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def model_in_use(self, model: str, version: str) -> None:
        """Label the version that answered; a new one replaces the old series."""
        if self._version_in_use == (model, version):
            return
        self.model_version.clear()
        self.model_version.labels(model, version).set(1)
        self._version_in_use = (model, version)
