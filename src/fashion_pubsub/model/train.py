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
from fashion_pubsub.logs import log_event
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
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    started = time.monotonic()
    history = model.fit(
        _augmented(tf, fit, config),
        validation_data=(_as_input(val.images), val.labels),
        epochs=config.epochs,
        shuffle=False,  # the tf.data pipeline shuffles, seeded
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.patience, restore_best_weights=True
            ),
            _EpochLog(keras, config.epochs),
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
    )


def _as_input(images: np.ndarray) -> np.ndarray:
    return images[..., None].astype(np.float32)


def _augmented(tf: Any, fit: Dataset, config: TrainConfig) -> Any:
    """Shuffled batches with seeded horizontal flips (clothes look alike mirrored)."""
    data = tf.data.Dataset.from_tensor_slices((_as_input(fit.images), fit.labels.astype(np.int32)))
    data = data.shuffle(len(fit.images), seed=config.seed, reshuffle_each_iteration=True)

    def flip(index: Any, pair: Any) -> Any:
        image, label = pair
        seed = tf.stack([tf.constant(config.seed, tf.int64), index])
        return tf.image.stateless_random_flip_left_right(image, seed), label

    data = data.enumerate().map(flip, num_parallel_calls=1, deterministic=True)
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


def _EpochLog(keras: Any, epochs: int) -> Any:  # noqa: N802 - builds a Keras callback lazily
    class EpochLog(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._start = time.monotonic()

        def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self._start = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            log_event(
                logger,
                "epoch",
                epoch=f"{epoch + 1}/{epochs}",
                seconds=round(time.monotonic() - self._start, 1),
                loss=round(logs.get("loss", 0.0), 4),
                accuracy=round(logs.get("accuracy", 0.0), 4),
                val_accuracy=round(logs.get("val_accuracy", 0.0), 4),
            )

    return EpochLog()
