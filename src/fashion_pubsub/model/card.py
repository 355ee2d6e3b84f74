"""The model card's figures for one exported version: training curves, confusion
matrix, worst confusions with example images, and calibration.

Everything is computed from what a version folder holds (`metrics.json`'s per-epoch
history, `model.onnx` run by ONNX Runtime alone) and the 10,000 test images, so the
figures in docs/model.md can be regenerated at any time with `fashion-pubsub model-card`.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.data.dataset import Dataset
from fashion_pubsub.model.errors import ExportError
from fashion_pubsub.model.evaluate import Evaluation, evaluate, predict_onnx

CALIBRATION_BINS = 15
EXAMPLES_PER_CONFUSION = 8


@dataclass(frozen=True)
class Calibration:
    """How far the top probability is from the accuracy it claims, per confidence bin.

    Args:
        edges: bin edges over the top probability, from 0 to 1.
        confidence: mean top probability per bin (NaN for empty bins).
        accuracy: share of correct predictions per bin (NaN for empty bins).
        counts: images per bin.
        ece: expected calibration error: the count-weighted mean of |accuracy - confidence|.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float


@dataclass(frozen=True)
class Confusion:
    """Test images of class `true` predicted as class `predicted`."""

    true: int
    predicted: int
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "true": CLASS_NAMES[self.true],
            "predicted": CLASS_NAMES[self.predicted],
            "count": self.count,
        }


@dataclass(frozen=True)
class Card:
    """The card's figures: test evaluation, calibration, worst confusions, PNG files."""

    evaluation: Evaluation
    calibration: Calibration
    worst: list[Confusion]
    files: list[Path]

    def as_dict(self) -> dict[str, Any]:
        return {
            "test_accuracy": round(self.evaluation.accuracy, 4),
            "per_class_accuracy": self.evaluation.per_class_accuracy,
            "ece": round(self.calibration.ece, 4),
            "worst_confusions": [c.as_dict() for c in self.worst],
            "files": [f.name for f in self.files],
        }


def calibration(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = CALIBRATION_BINS
) -> Calibration:
    """Reliability of the top probability as a confidence, in `bins` equal-width bins."""
    top = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # A top probability of exactly 1.0 belongs to the last bin.
    index = np.clip(np.digitize(top, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(index, weights=top, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=bins) / counts
    gaps = np.where(counts > 0, np.abs(accuracy - confidence), 0.0)
    ece = float((gaps * counts).sum() / max(1, len(labels)))
    return Calibration(edges, confidence, accuracy, counts, ece)


def worst_confusions(confusion: list[list[int]], top: int = 4) -> list[Confusion]:
    """The `top` most frequent (true, predicted) pairs of different classes."""
    matrix = np.array(confusion)
    np.fill_diagonal(matrix, 0)
    order = np.argsort(matrix, axis=None, kind="stable")[::-1][:top]
    pairs = [np.unravel_index(i, matrix.shape) for i in order]
    return [Confusion(int(t), int(p), int(matrix[t, p])) for t, p in pairs if matrix[t, p] > 0]


def write_card(version_dir: Path, test: Dataset, out_dir: Path) -> Card:
    """Evaluate `version_dir/model.onnx` on `test` and write the card's PNGs to `out_dir`.

    Raises:
        ExportError: the version has no model or no training history.
    """
    metrics_path = version_dir / "metrics.json"
    if not (version_dir / "model.onnx").is_file() or not metrics_path.is_file():
        raise ExportError(f"{version_dir} has no model.onnx or metrics.json; name a version")
    history = json.loads(metrics_path.read_text(encoding="utf-8")).get("history")
    if not history:
        raise ExportError(f"{metrics_path} has no training history to plot")
    probabilities = predict_onnx(version_dir / "model.onnx", test.images)
    evaluation = evaluate(probabilities, test.labels)
    reliability = calibration(probabilities, test.labels)
    worst = worst_confusions(evaluation.confusion)
    out_dir.mkdir(parents=True, exist_ok=True)
    from fashion_pubsub.model import plots

    files = [
        plots.training_curves(history, out_dir / "training_curves.png"),
        plots.confusion_matrix(evaluation.confusion, out_dir / "confusion_matrix.png"),
        plots.reliability(reliability, out_dir / "reliability.png"),
        plots.confusion_examples(
            _examples(test, probabilities, worst), out_dir / "worst_confusions.png"
        ),
    ]
    card = Card(evaluation, reliability, worst, files)
    (out_dir / "card.json").write_text(json.dumps(card.as_dict(), indent=2) + "\n")
    return card


def _examples(
    test: Dataset, probabilities: np.ndarray, worst: list[Confusion]
) -> list[tuple[Confusion, np.ndarray]]:
    """For each confusion, its most confidently wrong test images."""
    predicted = probabilities.argmax(axis=1)
    chosen = []
    for confusion in worst:
        where = np.flatnonzero((test.labels == confusion.true) & (predicted == confusion.predicted))
        surest = where[np.argsort(-probabilities[where, confusion.predicted], kind="stable")]
        chosen.append((confusion, test.images[surest[:EXAMPLES_PER_CONFUSION]]))
    return chosen
