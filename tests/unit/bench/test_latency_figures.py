"""The latency bench's verdicts and table, from figures made up here."""

from fashion_pubsub.bench.latency import _rate_figures, latency_markdown
from fashion_pubsub.demo.stages import stage_figures
from fashion_pubsub.demo.summary import Summary
from fashion_pubsub.pipeline.latency import STAGES


def _summary(p99: float) -> Summary:
    latency = {"end_to_end": p99, **{s: p99 / len(STAGES) for s in STAGES}}
    return Summary(
        images=100,
        labelled=100,
        correct=93,
        seconds=0.1,
        latency_ms={"p50": p99 / 2, "p95": p99, "p99": p99, "max": p99 * 2},
        per_class_accuracy={},
        confusion=[],
        stages_ms=stage_figures([latency]),
    )


def test_rounds_meet_the_goal_of_their_rate_and_only_rates_with_a_goal_say_so() -> None:
    at_1000 = _rate_figures("1000", 1000.0, [_summary(20.0), _summary(25.0), _summary(31.0)])
    assert at_1000["goal_p99_ms"] == 25.0
    assert [r["met"] for r in at_1000["rounds"]] == [True, True, False]
    assert at_1000["rounds_met"] == 2
    at_200 = _rate_figures("200", 200.0, [_summary(90.0)])
    assert at_200["rounds_met"] is None and at_200["rounds"][0]["met"] is None


def test_the_table_has_every_round_and_the_worst_rounds_stages() -> None:
    figures = {
        "machine": {"workdir_filesystem": "tmpfs", "cpu": "AMD EPYC"},
        "brokers": {
            "apache-kafka": {
                "max_images_per_second": 6000.0,
                "max_rounds": [5000.0, 6000.0],
                "rates": [
                    _rate_figures("200", 200.0, [_summary(10.0)]),
                    _rate_figures("1000", 1000.0, [_summary(20.0), _summary(31.0)]),
                    _rate_figures("half", 3000.0, [_summary(40.0), _summary(45.0)]),
                ],
            }
        },
    }
    table = latency_markdown(figures)
    assert "folders on tmpfs, CPU AMD EPYC," in table
    assert table.count("| apache-kafka |") == 5
    assert "| apache-kafka | 200 | 1 | 100 | 1,000 | 5.0 | 10.0 | 20.0 |  |  |" in table
    assert "half max (3,000)" in table
    assert "goal p99 <= 25 ms met in 1 of 2 rounds" in table
    assert "worst round (rate half, p99 45.0 ms)" in table
    assert "| predict |" in table and "| end_to_end |" in table


def test_a_crowded_kafka_is_called_out_in_the_table_and_a_clean_one_is_not() -> None:
    def table(partitions: int) -> str:
        result = {"broker_partitions_at_start": partitions, "rates": []}
        return latency_markdown({"machine": {}, "brokers": {"apache-kafka": result}})

    assert "carried 4,147 partitions at the start" in table(4147)
    assert "partitions at the start" not in table(60)
