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
    model = build_network()
    steps = max(1, len(fit.images) // config.batch_size) * config.epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)
    per_epoch = -(-len(fit.images) // config.batch_size)  # batches, the last one partial
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
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
    with `crop_padding`, seeded random shifts (a crop of the zero-padded image).

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
        return image, label

    data = data.enumerate().map(augment, num_parallel_calls=1, deterministic=True)
    return data.batch(config.batch_size).prefetch(2)


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
