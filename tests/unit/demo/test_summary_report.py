from pathlib import Path

import pytest

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.demo.report import write_report
from fashion_pubsub.demo.summary import Outcome, ResultsTail, percentiles, summarize


def outcome(i: int, predicted: int, true: int | None, latency: float = 10.0) -> Outcome:
    return Outcome(
        image_id=f"id-{i}",
        source=f"{i}.png",
        output=f"{i}-x.png",
        predicted=predicted,
        confidence=0.9,
        true_label=true,
        latency_ms=latency,
        finished_at=100.0 + i,
    )


def test_accuracy_counts_only_labelled_images_and_fills_the_confusion_matrix() -> None:
    outcomes = [outcome(0, 1, 1), outcome(1, 2, 1), outcome(2, 3, None), outcome(3, 0, 0)]
    summary = summarize(outcomes, started_at=100.0)
    assert (summary.images, summary.labelled, summary.correct) == (4, 3, 2)
    assert summary.accuracy == pytest.approx(2 / 3)
    assert summary.confusion[1][2] == 1 and summary.confusion[1][1] == 1
    assert summary.per_class_accuracy[CLASS_NAMES[1]] == 0.5
    assert summary.per_class_accuracy[CLASS_NAMES[5]] is None
    assert summary.seconds == 3.0
    assert summary.images_per_second == pytest.approx(4 / 3)


def test_percentiles_of_known_values() -> None:
    figures = percentiles([float(v) for v in range(1, 101)])
    assert figures["p50"] == pytest.approx(50.5)
    assert figures["p99"] == pytest.approx(99.01)
    assert figures["max"] == 100.0


def test_report_names_every_image(tmp_path: Path) -> None:
    outcomes = [outcome(i, i % 10, (i + i // 7) % 10) for i in range(60)]
    report = write_report(
        tmp_path / "report.html", "t", summarize(outcomes, 100.0), outcomes, tmp_path
    )
    page = report.read_text()
    assert all(f">{i}.png<" in page for i in range(60))
    assert "Confusion matrix" in page and "<svg" in page


def test_results_tail_reads_only_complete_lines_and_ignores_duplicates(tmp_path: Path) -> None:
    log = tmp_path / "results.jsonl"
    record = (
        '{"image_id":"a","source_file":"1.png","output_file":"1-Bag.png",'
        '"predicted_label":8,"true_label":8,"written_at":5.0,'
        '"latency_ms":{"end_to_end":3.5}}\n'
    )
    log.write_text(record + record + record[:20])
    tail = ResultsTail([log])
    assert tail.poll() == 1
    assert tail.duplicates == 1
    assert tail.outcomes["a"].latency_ms == 3.5
    with log.open("a") as handle:
        handle.write(record[20:])
    tail.poll()
    assert tail.duplicates == 2
