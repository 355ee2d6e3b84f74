"""Training the classifier with Keras on the CPU: seeded, validated, reproducible.

The 10,000 test images are never seen here: model selection uses a validation
split carved from the 60,000 training images with a seeded permutation.
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fashion_pubsub.data.dataset import Dataset
from fashion_pubsub.model.callbacks import epoch_progress, time_budget
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.model.errors import TrainingDependencyError
from fashion_pubsub.model.network import build_network

logger = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A trained Keras model and how it got there."""

    model: Any
    config: TrainConfig
    validation_accuracy: float
    epochs_run: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # all threads: what a quiet machine's wall time is bounded by


def split_validation(train: Dataset, config: TrainConfig) -> tuple[Dataset, Dataset]:
    """Seeded split of the training set into (fit, validation)."""
    count = len(train.images) if config.limit is None else min(config.limit, len(train.images))
    order = np.random.default_rng(config.seed).permutation(len(train.images))[:count]
    held = min(config.validation_size, count // 5)
    fit, val = order[held:], order[:held]
    return (
        Dataset(train.images[fit], train.labels[fit]),
        Dataset(train.images[val], train.labels[val]),
    )


def train_model(train: Dataset, config: TrainConfig) -> TrainedModel:
    """Fit the network on `train` (minus the validation split) and keep the best epoch."""
    tf, keras = _import_tensorflow()
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    fit, val = split_validation(train, config)
    model = build_network(dense_units=config.dense_units, stage3_filters=config.stage3_filters)
    steps = max(1, len(fit.images) // config.batch_size) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    per_epoch = -(-len(fit.images) // config.batch_size)  # batches, the last one partial
    model.compile(
        optimizer=_optimizer(keras, schedule, config.weight_decay),
        loss=_loss(keras, config.label_smoothing),
        metrics=["accuracy"],
    )
    started, cpu_started = time.monotonic(), time.process_time()
    history = model.fit(
        _augmented(tf, fit, config),
        validation_data=(_as_input(val.images), _targets(val.labels, config)),
        epochs=config.epochs,
        shuffle=False,  # the tf.data pipeline shuffles, seeded
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.patience, restore_best_weights=True
            ),
            epoch_progress(keras, config.epochs, per_epoch),
            time_budget(keras, config.time_budget, started),
        ],
    )
    scores = history.history["val_accuracy"]
    return TrainedModel(
        model,
        config,
        float(max(scores)),
        len(scores),
        time.monotonic() - started,
        {k: [float(v) for v in vs] for k, vs in history.history.items()},
        time.process_time() - cpu_started,
    )


def _optimizer(keras: Any, schedule: Any, weight_decay: float) -> Any:
    # Plain Adam when there is no decay: version 1's recipe stays bit-for-bit repeatable.
    if weight_decay == 0:
        return keras.optimizers.Adam(schedule)
    return keras.optimizers.AdamW(schedule, weight_decay=weight_decay)


def _as_input(images: np.ndarray) -> np.ndarray:
    return images[..., None].astype(np.float32)


def _loss(keras: Any, label_smoothing: float) -> Any:
    if label_smoothing:  # Keras' sparse loss has no label smoothing: one-hot targets
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    # Without smoothing, the sparse loss exactly as version 1 was trained (repeatable).
    return keras.losses.SparseCategoricalCrossentropy()


def _targets(labels: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Class numbers, or one-hot rows when the loss smooths them."""
    if config.label_smoothing:
        one_hot: np.ndarray = np.eye(10, dtype=np.float32)[labels]
        return one_hot
    return labels.astype(np.int32)


def _augmented(tf: Any, fit: Dataset, config: TrainConfig) -> Any:
    """Shuffled batches with seeded horizontal flips (clothes look alike mirrored) and,
    with `crop_padding`, seeded random shifts (a crop of the zero-padded image), and with
    `erasing`, seeded random erasing.

    No vertical flips: clothes have an up.
    """
    data = tf.data.Dataset.from_tensor_slices((_as_input(fit.images), _targets(fit.labels, config)))
    data = data.shuffle(len(fit.images), seed=config.seed, reshuffle_each_iteration=True)
    pad = config.crop_padding

    def augment(index: Any, pair: Any) -> Any:
        image, label = pair
        seed = tf.stack([tf.constant(config.seed, tf.int64), index])
        image = tf.image.stateless_random_flip_left_right(image, seed)
        if pad:
            padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(padded, tf.shape(image), seed + 1)
        if config.erasing:
            image = random_erasing(tf, image, seed + 2, config.erasing)
        return image, label

    data = data.enumerate().map(augment, num_parallel_calls=1, deterministic=True)
    return data.batch(config.batch_size).prefetch(2)


ERASED_AREA = (0.02, 0.25)  # share of the image one erased rectangle covers
ERASED_ASPECT = (0.3, 1 / 0.3)  # its height / width


def random_erasing(tf: Any, image: Any, seed: Any, probability: float) -> Any:
    """With `probability`, fill one random rectangle of `image` with random pixels 0-255.

    Random erasing (Zhong et al., 2017): the network must recognise a garment with a part
    hidden, so it cannot lean on one small patch; the rectangle's area and aspect are drawn
    from `ERASED_AREA` and `ERASED_ASPECT`, its place uniformly where it fits.

    Args:
        tf: the tensorflow module.
        image: float32 [H,W,1] pixels 0-255.
        seed: int64 [2] stateless seed (the same seed erases the same rectangle).
        probability: chance that this image is erased at all.
    """
    height, width = image.shape[0], image.shape[1]
    draws = tf.random.stateless_uniform([5], seed)
    area = height * width * (ERASED_AREA[0] + (ERASED_AREA[1] - ERASED_AREA[0]) * draws[0])
    low, high = np.log(ERASED_ASPECT[0]), np.log(ERASED_ASPECT[1])
    aspect = tf.exp(low + (high - low) * draws[1])
    rows = tf.clip_by_value(tf.round(tf.sqrt(area * aspect)), 1, height)
    cols = tf.clip_by_value(tf.round(tf.sqrt(area / aspect)), 1, width)
    top = tf.floor(draws[2] * (height - rows + 1))
    left = tf.floor(draws[3] * (width - cols + 1))
    y = tf.range(height, dtype=tf.float32)[:, None, None]
    x = tf.range(width, dtype=tf.float32)[None, :, None]
    inside = (y >= top) & (y < top + rows) & (x >= left) & (x < left + cols)
    inside &= draws[4] < probability
    noise = tf.floor(tf.random.stateless_uniform(tf.shape(image), seed + 1, 0.0, 256.0))
    return tf.where(inside, noise, image)


def _import_tensorflow() -> tuple[Any, Any]:
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise TrainingDependencyError(
            "training needs TensorFlow, which the pipeline itself does not: "
            'install it with `pip install -e ".[train]"`'
        ) from exc
    return tf, keras
