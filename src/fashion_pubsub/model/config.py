"""The trainer's hyperparameters: a leaf module, so that the CLI can show their defaults in
`--help` without loading numpy or TensorFlow."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Args:
    epochs: most epochs to run (early stopping may end sooner).
    batch_size: images per step.
    seed: seeds weights, shuffling, augmentation and the validation split.
    validation_size: training images held out for model selection.
    learning_rate: peak Adam learning rate, decayed by a cosine schedule.
    patience: epochs without a better validation accuracy before stopping.
    limit: train on only the first `limit` training images (quick runs, tests).
    crop_padding: pixels of zero padding around each training image before a random
        28x28 crop (shifts of up to this many pixels); 0 turns crops off.
    label_smoothing: share of each target's probability spread over all ten classes.
    time_budget: seconds; no epoch starts that would likely end after it (None: no limit).
    erasing: probability that a training image gets one random rectangle (2-25 % of its
        area) filled with random pixels (random erasing); 0 turns it off.
    dense_units: width of the network's hidden dense layer.
    stage3_filters: filters of an extra convolution on the 7x7 feature map (0: none).
    weight_decay: decoupled weight decay (AdamW), as a share of the learning rate per step;
        0 keeps plain Adam.
    """

    epochs: int = 14
    batch_size: int = 128
    seed: int = 2021
    validation_size: int = 5000
    learning_rate: float = 2e-3
    patience: int = 4
    limit: int | None = None
    crop_padding: int = 0
    label_smoothing: float = 0.0
    time_budget: float | None = None
    erasing: float = 0.0
    dense_units: int = 128
    stage3_filters: int = 0
    weight_decay: float = 0.0
