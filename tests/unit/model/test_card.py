"""The model card's arithmetic: calibration error and the worst confusions."""

import numpy as np
import pytest

from fashion_pubsub.model.card import calibration, worst_confusions


def _probabilities(top: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Rows whose largest entry `top` sits at `predicted`; the rest share what is left."""
    rows = np.tile(((1 - top) / 9)[:, None], (1, 10))
    rows[np.arange(len(top)), predicted] = top
    return rows


def test_a_model_right_as_often_as_it_claims_has_no_calibration_error() -> None:
    # 80 % sure, right on 8 of 10 images; 100 % sure, right on all 10.
    top = np.array([0.8] * 10 + [1.0] * 10)
    labels = np.zeros(20, dtype=np.int64)
    predicted = np.array([0] * 8 + [1] * 2 + [0] * 10)
    result = calibration(_probabilities(top, predicted), labels)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert result.counts.sum() == 20


def test_an_overconfident_model_has_the_gap_as_its_calibration_error() -> None:
    # 90 % sure on every image but right on half of them: 0.4 off.
    top = np.full(10, 0.9)
    labels = np.zeros(10, dtype=np.int64)
    predicted = np.array([0] * 5 + [1] * 5)
    result = calibration(_probabilities(top, predicted), labels)
    assert result.ece == pytest.approx(0.4)
    filled = result.counts > 0
    assert result.accuracy[filled].tolist() == [0.5]
    assert result.confidence[filled] == pytest.approx([0.9])


def test_worst_confusions_are_the_largest_off_diagonal_counts() -> None:
    confusion = np.diag([900] * 10)
    confusion[6, 0], confusion[0, 6], confusion[6, 4] = 95, 64, 56
    worst = worst_confusions(confusion.tolist(), top=4)
    assert [(c.true, c.predicted, c.count) for c in worst] == [(6, 0, 95), (0, 6, 64), (6, 4, 56)]
    assert worst[0].as_dict() == {"true": "Shirt", "predicted": "T-shirt/top", "count": 95}
