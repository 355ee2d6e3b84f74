"""Evaluating an exported model with ONNX Runtime alone: what the server will compute."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.data.dataset import Dataset


@dataclass(frozen=True)
class Evaluation:
    """Accuracy, per-class accuracy and the confusion matrix (rows: true, columns: predicted)."""

    accuracy: float
    per_class_accuracy: dict[str, float]
    confusion: list[list[int]]
    images: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "per_class_accuracy": self.per_class_accuracy,
            "confusion_matrix": self.confusion,
            "images": self.images,
        }


def predict_onnx(model_path: Path, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities [N, 10] for uint8 images [N, 28, 28] from an ONNX model file
    that takes them as float32 (as exported) or uint8 (as served)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    dtype = pixel_dtype(model_input)
    batches = [
        session.run(None, {model_input.name: images[i : i + batch_size, :, :, None].astype(dtype)})
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate([outputs[0] for outputs in batches])


def pixel_dtype(model_input: Any) -> type[np.generic]:
    """The dtype an ONNX Runtime input takes pixels in: uint8 (served versions) or float32."""
    return np.uint8 if model_input.type == "tensor(uint8)" else np.float32


def evaluate(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Figures for predicted `probabilities` against true `labels`."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.int64), predicted), 1)
    totals = confusion.sum(axis=1).clip(min=1)
    return Evaluation(
        accuracy=float((predicted == labels).mean()),
        per_class_accuracy={
            n: round(float(confusion[i, i] / totals[i]), 4) for i, n in enumerate(CLASS_NAMES)
        },
        confusion=confusion.tolist(),
        images=len(labels),
    )


def evaluate_onnx(model_path: Path, test: Dataset) -> Evaluation:
    return evaluate(predict_onnx(model_path, test.images), test.labels)
