"""Issue 13, done when: on both real brokers, 1,000 valid images with 50 poison messages
and 20 poison files interleaved end with 1,000 outputs, 50 dead letters and 20 rejects,
each with a reason, and nothing anywhere else.

How long it takes is printed, not asserted:
`python -m tests.integration.pipeline.poison_overhead` compares it with
the same run without poison (docs/benchmarks.md, "Poison overhead")."""

from pathlib import Path

from .conftest import Lane
from .poison_run import POISON_FILES, POISON_MESSAGES, VALID, check, run


def test_a_thousand_images_with_poison_interleaved(lane: Lane, data_dir: Path) -> None:
    outcome = run(lane, data_dir, poison=True)

    assert len(outcome.poison_messages) == POISON_MESSAGES
    assert len(outcome.poison_files) == POISON_FILES
    check(lane, outcome)
    assert len(outcome.records) == VALID
    print(f"{lane.broker_name}: {VALID} images with poison in {outcome.elapsed:.1f} s")
