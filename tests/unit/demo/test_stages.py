"""Per-stage figures of a run: histograms, percentiles, the feeder's clock, the chart."""

import pytest

from fashion_pubsub.demo.stage_chart import stacked_means, stage_chart
from fashion_pubsub.demo.stages import HISTOGRAM_EDGES_MS, histogram, stage_figures
from fashion_pubsub.demo.summary import Outcome, first_seen, from_arrivals, summarize
from fashion_pubsub.pipeline.latency import STAGES


def test_histogram_buckets_include_their_lower_edge_and_catch_both_ends() -> None:
    counts = histogram([-0.5, 0.0, 0.99, 1.0, 25.0, 24.999, 9999.0])["counts"]
    assert len(counts) == len(HISTOGRAM_EDGES_MS)
    edges = list(HISTOGRAM_EDGES_MS)
    assert counts[0] == 3  # -0.5 (a coarse ctime), 0.0 and 0.99
    assert counts[edges.index(1)] == 1
    assert counts[edges.index(20)] == 1 and counts[edges.index(25)] == 1
    assert counts[-1] == 1 and sum(counts) == 7


def _latency(end_to_end: float) -> dict[str, float]:
    # pickup takes what the other stages leave: the slow images wait before pickup.
    stages = {"publish": 0.1, "broker": 2.0, "batch": 0.5, "predict": 3.0, "write": 1.0}
    return {"end_to_end": end_to_end, "pickup": end_to_end - sum(stages.values()), **stages}


def test_stage_figures_cover_every_stage_with_a_histogram_of_every_image() -> None:
    figures = stage_figures([_latency(float(v)) for v in range(10, 110)])
    assert set(figures) == {*STAGES, "end_to_end"}
    assert figures["end_to_end"]["max"] == 109.0
    assert figures["predict"]["p99"] == 3.0 and figures["predict"]["mean"] == 3.0
    assert sum(figures["pickup"]["histogram"]["counts"]) == 100


def test_the_stacked_chart_shows_the_tail_in_the_stage_it_spent_its_time() -> None:
    bars = stacked_means([_latency(float(v)) for v in range(10, 110)], groups=4)
    assert len(bars) == 4
    fastest, slowest = bars[0], bars[-1]
    assert slowest[0] == 109.0
    pickup = STAGES.index("pickup")
    assert slowest[1][pickup] > fastest[1][pickup] + 50
    assert slowest[1][STAGES.index("predict")] == pytest.approx(3.0)
    assert "<svg" in stage_chart([_latency(20.0)]) and "no per-stage" in stage_chart([{}])


def _outcome(i: int, seen: float, finished: float, stages: dict[str, float]) -> Outcome:
    return Outcome(
        image_id=f"id-{i}",
        source=f"{i}.png",
        output=f"{i}-x.png",
        predicted=0,
        confidence=0.9,
        true_label=0,
        latency_ms=stages.get("end_to_end", 0.0),
        finished_at=finished,
        seen_at=seen,
        stages=stages,
    )


def test_the_feeders_clock_sets_the_start_and_throughput_counts_from_pickup() -> None:
    outcomes = [
        _outcome(0, seen=100.010, finished=100.030, stages=_latency(25.0)),
        _outcome(1, seen=100.500, finished=100.520, stages=_latency(25.0)),
    ]
    rebased = from_arrivals(outcomes, {"0.png": 100.000, "1.png": 100.400})
    assert rebased[0].latency_ms == pytest.approx(30.0)
    assert rebased[0].stages["pickup"] == pytest.approx(10.0)
    assert rebased[1].stages["end_to_end"] == pytest.approx(120.0)
    assert rebased[1].stages["predict"] == 3.0  # other stages are the subscriber's own
    assert first_seen(rebased) == 100.010
    summary = summarize(rebased, first_seen(rebased))
    assert summary.latency_ms["max"] == pytest.approx(120.0)
    assert summary.stages_ms["end_to_end"]["max"] == pytest.approx(120.0)
