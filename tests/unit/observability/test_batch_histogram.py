"""A batch histogram scrapes as prometheus_client's own Histogram fed one value at a time."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from fashion_pubsub.observability.batch_histogram import BatchHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def exposition(registry: CollectorRegistry) -> tuple[list[str], list[float]]:
    """The exposition's lines but `_created`, and apart the `_sum` values (added in
    another order, they may differ in the last digit)."""
    lines = generate_latest(registry).decode().splitlines()
    sums = [float(line.rsplit(" ", 1)[1]) for line in lines if "_sum{" in line]
    return [line for line in lines if "_created" not in line and "_sum{" not in line], sums


@given(
    st.dictionaries(
        st.sampled_from(["broker", "predict", "end_to_end"]),
        st.lists(
            st.one_of(st.sampled_from(BUCKETS), st.floats(0, 5, allow_nan=False)), max_size=30
        ),
    )
)
def test_a_batch_counts_as_the_same_values_observed_one_by_one(
    batches: dict[str, list[float]],
) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("stage_seconds", "Stages", "stage", BUCKETS, ours)
    single = Histogram("stage_seconds", "Stages", ["stage"], buckets=BUCKETS, registry=theirs)
    for stage, values in batches.items():
        batch.observe(stage, values[: len(values) // 2])
        batch.observe(stage, values[len(values) // 2 :])
        series = single.labels(stage)  # an empty batch, too, shows its series at zero
        for value in values:
            series.observe(value)
    (our_lines, our_sums), (their_lines, their_sums) = exposition(ours), exposition(theirs)
    assert our_lines == their_lines
    assert our_sums == pytest.approx(their_sums)


def test_a_value_on_a_bound_counts_in_that_bound_and_above_the_last_in_inf() -> None:
    registry = CollectorRegistry()
    BatchHistogram("t_seconds", "T", "stage", BUCKETS, registry).observe("write", [0.01, 7.0])
    bucket = "t_seconds_bucket"
    assert registry.get_sample_value(bucket, {"stage": "write", "le": "0.001"}) == 0
    assert registry.get_sample_value(bucket, {"stage": "write", "le": "0.01"}) == 1
    assert registry.get_sample_value(bucket, {"stage": "write", "le": "1.0"}) == 1
    assert registry.get_sample_value(bucket, {"stage": "write", "le": "+Inf"}) == 2
    assert registry.get_sample_value("t_seconds_count", {"stage": "write"}) == 2
    assert registry.get_sample_value("t_seconds_sum", {"stage": "write"}) == 7.01
