"""The training recipe's augmentation and its time budget, as a user of `train` sees them."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fashion_pubsub.cli import main
from fashion_pubsub.data.dataset import Dataset
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.model.train import ERASED_AREA, _augmented, random_erasing

tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.train


def _top_heavy_images(count: int) -> Dataset:
    """Images bright in their top rows only, and brighter on the left: any vertical
    flip or shift beyond the padding would show."""
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 4:10, 4:14] = 200
    images[:, 4:10, 14:24] = 100
    return Dataset(images, np.zeros(count, np.uint8))


def test_augmentation_shifts_by_at_most_the_padding_and_never_flips_vertically() -> None:
    data = _top_heavy_images(256)
    batches = _augmented(tf, data, TrainConfig(crop_padding=2, batch_size=256))
    images = next(iter(batches))[0].numpy()[..., 0]
    rows = np.flatnonzero(images.sum(axis=(0, 2)))
    assert rows.min() >= 2 and rows.max() <= 11, "a bright row moved more than 2 pixels"
    shifted = {tuple(np.argwhere(image)[0]) for image in images}
    assert len(shifted) > 5, "the crops should move the images by different amounts"
    left_brighter = images[:, :, :14].sum(axis=(1, 2)) > images[:, :, 14:].sum(axis=(1, 2))
    assert 0.2 < left_brighter.mean() < 0.8, "about half should be mirrored left-right"


def test_augmentation_is_the_same_for_the_same_seed() -> None:
    data = _top_heavy_images(64)
    config = TrainConfig(crop_padding=2, batch_size=64, seed=7)
    first = next(iter(_augmented(tf, data, config)))[0].numpy()
    second = next(iter(_augmented(tf, data, config)))[0].numpy()
    np.testing.assert_array_equal(first, second)


def test_erasing_fills_one_rectangle_of_the_drawn_size_with_noise() -> None:
    image = tf.fill([28, 28, 1], 7.0)
    for index in range(50):
        seed = tf.constant([3, index], tf.int64)
        erased = random_erasing(tf, image, seed, probability=1.0).numpy()[..., 0]
        rows, cols = np.nonzero(erased != 7.0)
        box = erased[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert (box != 7.0).mean() > 0.9, "the changed pixels should form one rectangle"
        # Rounding the sides to whole pixels moves the area a little past the drawn bounds.
        assert ERASED_AREA[0] / 2 <= box.size / 784 <= ERASED_AREA[1] * 1.3
        assert erased.min() >= 0 and erased.max() <= 255
        again = random_erasing(tf, image, seed, probability=1.0).numpy()[..., 0]
        np.testing.assert_array_equal(erased, again)


def test_erasing_hides_part_of_about_the_chosen_share_of_training_images() -> None:
    data = _top_heavy_images(400)
    clean = next(iter(_augmented(tf, data, TrainConfig(batch_size=400, seed=5))))[0].numpy()
    config = TrainConfig(erasing=0.5, batch_size=400, seed=5)
    erased = next(iter(_augmented(tf, data, config)))[0].numpy()
    changed = (erased != clean).any(axis=(1, 2, 3))
    assert 0.4 < changed.mean() < 0.6
    np.testing.assert_array_equal(erased, next(iter(_augmented(tf, data, config)))[0].numpy())


def test_train_stops_at_its_time_budget_and_shows_held_out_accuracy(data_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["train", "--data-dir", str(data_dir), "--no-export", "--no-quantize"]
        + ["--limit", "1200", "--batch-size", "64", "--epochs", "5", "--time-budget", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "after 1 epochs" in result.stdout
    assert "held-out accuracy" in result.stderr


def test_weight_decay_shrinks_weights_that_get_no_gradient_and_zero_keeps_adam() -> None:
    from fashion_pubsub.model.train import _optimizer

    keras = tf.keras
    assert type(_optimizer(keras, 1e-3, 0.0)).__name__ == "Adam"
    decayed = keras.Variable(np.ones(4, np.float32))
    optimizer = _optimizer(keras, 0.1, 0.5)
    optimizer.apply_gradients([(np.zeros(4, np.float32), decayed)])
    assert np.allclose(decayed.numpy(), 1 - 0.1 * 0.5), "AdamW decays by lr x decay a step"
