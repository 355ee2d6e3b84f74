"""Rates and percentiles from successive scrapes, as the dashboard's charts draw them."""

import math

import pytest

from fashion_pubsub.dashboard.scrape import Scrape
from fashion_pubsub.dashboard.timeline import LATENCY_BUCKET, PREDICTED, Timeline, quantile

INF = math.inf


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    buckets = {0.01: 0.0, 0.02: 50.0, 0.05: 100.0, INF: 100.0}
    assert quantile(buckets, 0.5) == pytest.approx(0.02)
    assert quantile(buckets, 0.25) == pytest.approx(0.015)
    assert quantile(buckets, 0.99) == pytest.approx(0.02 + 0.03 * 49 / 50)
    assert quantile({0.01: 0.0, INF: 0.0}, 0.5) is None
    assert quantile({0.01: 1.0, INF: 10.0}, 0.99) == 0.01  # beyond the last bound


def _scrape(predicted: float, buckets: dict[float, float]) -> Scrape:
    samples = {(PREDICTED, frozenset({("class_name", "Bag")})): predicted}
    for bound, count in buckets.items():
        labels = frozenset({("stage", "end_to_end"), ("le", str(bound))})
        samples[(LATENCY_BUCKET, labels)] = count
    return Scrape("http://subscriber/metrics", samples)


def test_points_hold_the_rate_and_percentiles_of_the_last_interval_only() -> None:
    timeline = Timeline()
    timeline.add(100.0, [_scrape(0, {0.01: 0, 0.1: 0, INF: 0})])
    timeline.add(102.0, [_scrape(200, {0.01: 200, 0.1: 200, INF: 200})])
    timeline.add(103.0, [_scrape(300, {0.01: 200, 0.1: 300, INF: 300})])
    timeline.add(104.0, [_scrape(300, {0.01: 200, 0.1: 300, INF: 300})])
    first, second, idle = timeline.points
    assert first.predicted_per_second == 100.0
    assert first.p50_ms is not None and first.p50_ms <= 10.0
    assert second.predicted_per_second == 100.0
    assert second.p50_ms is not None and second.p50_ms > 10.0  # only the slow hundred
    assert (idle.predicted_per_second, idle.p99_ms) == (0.0, None)


def test_a_restarted_process_counts_from_zero_not_negative() -> None:
    timeline = Timeline()
    timeline.add(1.0, [_scrape(500, {0.01: 500, INF: 500})])
    timeline.add(2.0, [_scrape(20, {0.01: 20, INF: 20})])
    [point] = timeline.points
    assert point.predicted_per_second == 20.0
    assert point.p50_ms is not None


def test_an_endpoint_that_is_down_adds_nothing() -> None:
    timeline = Timeline()
    timeline.add(1.0, [Scrape("http://x/metrics", error="refused")])
    timeline.add(2.0, [Scrape("http://x/metrics", error="refused")])
    [point] = timeline.points
    assert point.predicted_per_second == 0.0
