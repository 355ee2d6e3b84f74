"""Errors about training and exporting: FashionPubSubError -> ModelError -> ..."""

from fashion_pubsub.errors import FashionPubSubError


class ModelError(FashionPubSubError):
    """A model cannot be trained, exported or evaluated."""


class TrainingDependencyError(ModelError):
    """TensorFlow (the `train` extra) is not installed."""


class ExportError(ModelError):
    """A version folder could not be written completely."""
