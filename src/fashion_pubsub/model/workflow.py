"""`fashion-pubsub train`: train, optimise and evaluate the ONNX export, publish a version."""

import logging
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashion_pubsub.data.dataset import Dataset, load_split, split_paths
from fashion_pubsub.data.idx import read_pair
from fashion_pubsub.logs import log_event
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.model.evaluate import Evaluation
from fashion_pubsub.model.export import discard, files_sha256, publish_version, stage_version
from fashion_pubsub.model.optimize import optimize_version
from fashion_pubsub.model.train import TrainedModel, train_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingReport:
    trained: TrainedModel
    test: Evaluation
    version_dir: Path | None
    float_test: Evaluation


def run_training(
    data_dir: Path,
    config: TrainConfig,
    export: Path | None,
    train_files: tuple[Path, Path] | None = None,
    quantize: bool = True,
) -> TrainingReport:
    """Train on the training split, evaluate the exported ONNX model on the test split
    with ONNX Runtime alone, and publish it as the next version unless `export` is None.

    Args:
        data_dir: folder with the four IDX files (test split always from here).
        config: training settings.
        export: model base path; None trains and reports without publishing.
        train_files: (images, labels) to train on instead of the data_dir's training split.
        quantize: serve an int8 model (calibrated on the training images) rather than float.
    """
    train_paths = train_files or split_paths(data_dir, "train")
    train = Dataset(*read_pair(*train_paths))
    test = load_split(data_dir, "test")
    log_event(logger, "training", images=len(train.images), epochs=config.epochs, seed=config.seed)
    trained = train_model(train, config)
    staging = stage_version(trained.model, export or Path(tempfile.mkdtemp(prefix="no-export-")))
    try:
        optimized = optimize_version(staging, train.images, test, quantize)
        evaluation = optimized.served_test
        log_event(logger, "evaluated", test_accuracy=round(evaluation.accuracy, 4))
        if export is None:
            return TrainingReport(trained, evaluation, None, optimized.float_test)
        version_dir = publish_version(
            staging,
            export,
            {**_metadata(trained, train_paths), **optimized.metadata()},
            {**_metrics(trained), **optimized.metrics()},
        )
    finally:
        discard(staging)
    log_event(logger, "exported", version=version_dir)
    return TrainingReport(trained, evaluation, version_dir, optimized.float_test)


def _metadata(trained: TrainedModel, train_paths: tuple[Path, Path]) -> dict[str, Any]:
    import tensorflow as tf
    import tf2onnx

    return {
        "validation_accuracy": round(trained.validation_accuracy, 4),
        "training_data_sha256": files_sha256(train_paths),
        "seed": trained.config.seed,
        "framework": {
            "tensorflow": tf.__version__,
            "tf2onnx": tf2onnx.__version__,
            "python": platform.python_version(),
        },
    }


def _metrics(trained: TrainedModel) -> dict[str, Any]:
    return {
        "validation_accuracy": trained.validation_accuracy,
        "epochs_run": trained.epochs_run,
        "training_seconds": round(trained.seconds, 1),
        "training_cpu_seconds": round(trained.cpu_seconds, 1),
        "config": trained.config.__dict__,
        "history": trained.history,
    }
