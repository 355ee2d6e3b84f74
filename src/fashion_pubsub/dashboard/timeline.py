"""Throughput and latency percentiles over time, from successive scrapes of counters and
histograms: rates from counter deltas, percentiles from the histogram buckets filled
since the last scrape (interpolated in the bucket, as Prometheus' histogram_quantile)."""

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from fashion_pubsub.dashboard.scrape import Scrape

PUBLISHED = "fashion_publisher_images_published_total"
PREDICTED = "fashion_subscriber_images_predicted_total"
LATENCY_BUCKET = "fashion_subscriber_stage_latency_seconds_bucket"
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Point:
    """One moment of the charts: images per second, and end-to-end latency percentiles
    in milliseconds of the images recorded since the point before (None: no images)."""

    time: float
    published_per_second: float
    predicted_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The q-quantile from cumulative bucket counts {upper bound: count}, or None if empty."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the largest finite bucket: its bound is all we know
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


class Timeline:
    """The last `length` points, one per `add`.

    Args:
        length: how many points the charts keep.
    """

    def __init__(self, length: int = 300) -> None:
        self.points: deque[Point] = deque(maxlen=length)
        self._previous: tuple[float, float, float, dict[float, float]] | None = None

    def add(self, now: float, scrapes: Iterable[Scrape]) -> None:
        """A point from this moment's scrapes (the first call only sets the baseline)."""
        scrapes = [s for s in scrapes if s.up]
        published = sum(s.total(PUBLISHED) for s in scrapes)
        predicted = sum(s.total(PREDICTED) for s in scrapes)
        buckets = _end_to_end_buckets(scrapes)
        previous, self._previous = self._previous, (now, published, predicted, buckets)
        if previous is None or now <= previous[0]:
            return
        then, published_before, predicted_before, buckets_before = previous
        seconds = now - then
        recent = _delta(buckets, buckets_before)
        p50, p95, p99 = (quantile(recent, q) for q in QUANTILES)
        self.points.append(
            Point(
                time=now,
                published_per_second=_rate(published, published_before, seconds),
                predicted_per_second=_rate(predicted, predicted_before, seconds),
                p50_ms=_ms(p50),
                p95_ms=_ms(p95),
                p99_ms=_ms(p99),
            )
        )

    def as_json(self) -> list[dict[str, float | None]]:
        return [asdict(p) for p in self.points]


def _end_to_end_buckets(scrapes: Iterable[Scrape]) -> dict[float, float]:
    buckets: dict[float, float] = {}
    for scrape in scrapes:
        for (name, labels), value in scrape.samples.items():
            found = dict(labels)
            if name == LATENCY_BUCKET and found.get("stage") == "end_to_end":
                bound = float(found["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
    return buckets


def _delta(now: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    """Counts since `before`; a process that restarted (counts fell) starts from zero."""
    if any(now.get(b, 0.0) < v for b, v in before.items()):
        return now
    return {b: v - before.get(b, 0.0) for b, v in now.items()}


def _rate(now: float, before: float, seconds: float) -> float:
    """Per second; a counter that fell (its process restarted) counts from zero."""
    delta = now - before if now >= before else now
    return round(delta / seconds, 1)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
