"""From tf2onnx's export to the files the server loads, each step checked.

A version folder ends with:
- `model_float.onnx`: the exported graph simplified for serving (uint8 input,
  rescaling and flatten transpose folded away); same outputs within 1e-5.
- `model.onnx`: what the server loads: the int8 quantisation of `model_float.onnx`,
  refused if it loses more than `MAX_ACCURACY_LOSS` of test accuracy.
"""

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.data.dataset import Dataset
from fashion_pubsub.logs import log_event
from fashion_pubsub.model.errors import ExportError
from fashion_pubsub.model.evaluate import Evaluation, evaluate_onnx, predict_onnx
from fashion_pubsub.model.network import INPUT_NAME, INPUT_SHAPE

logger = logging.getLogger(__name__)

SERVED_MODEL = "model.onnx"
FLOAT_MODEL = "model_float.onnx"
MAX_ACCURACY_LOSS = 0.003  # issue 19: the served int8 model within 0.3 points of float
SAME_OUTPUT_TOLERANCE = 1e-5
QUANTIZATION = {
    "tool": "onnxruntime.quantization.quantize_static",
    "format": "QDQ",
    "weights": "int8, per output channel",
    "activations": "uint8",
    "float_layers": "classifier head (last dense layer and softmax)",
}


@dataclass(frozen=True)
class OptimizedModels:
    """Test figures of the float and the served model of one version."""

    float_test: Evaluation
    served_test: Evaluation
    quantized: bool

    def metadata(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "test_accuracy": round(self.served_test.accuracy, 4),
            "float_test_accuracy": round(self.float_test.accuracy, 4),
            "inputs": [{"name": INPUT_NAME, "datatype": "UINT8", "shape": [-1, *INPUT_SHAPE]}],
        }
        if self.quantized:
            import onnxruntime

            figures["quantization"] = {**QUANTIZATION, "onnxruntime": onnxruntime.__version__}
        return figures

    def metrics(self) -> dict[str, Any]:
        return {"test": self.served_test.as_dict(), "float_test": self.float_test.as_dict()}


def optimize_version(
    folder: Path, calibration: np.ndarray, test: Dataset, quantize: bool = True
) -> OptimizedModels:
    """Turn `folder/model.onnx`, as tf2onnx wrote it, into the served files.

    Args:
        folder: a staged version folder; if it already holds `model_float.onnx` (a version
            trained with `--no-quantize`), that is the float model to quantise.
        calibration: uint8 training images [N,28,28] for quantisation ranges.
        test: the test split, to check and report both models.
        quantize: False serves the simplified float model.

    Raises:
        ExportError: the simplified model's outputs differ, or quantisation cost too much.
    """
    import onnx

    from fashion_pubsub.model.graph import simplify_for_serving

    exported, float_model = folder / SERVED_MODEL, folder / FLOAT_MODEL
    if not float_model.exists():  # else simplified (and checked) when it was written
        onnx.save(simplify_for_serving(onnx.load(str(exported))), str(float_model))
        _check_same_outputs(exported, float_model, test.images[:1000])
    float_test = evaluate_onnx(float_model, test)
    if not quantize:
        shutil.copyfile(float_model, exported)
        return OptimizedModels(float_test, float_test, quantized=False)
    from fashion_pubsub.model.quantize import quantize_for_serving

    quantize_for_serving(float_model, exported, calibration)
    served_test = evaluate_onnx(exported, test)
    log_event(
        logger,
        "quantized_model_evaluated",
        float_accuracy=float_test.accuracy,
        int8_accuracy=served_test.accuracy,
    )
    if served_test.accuracy < float_test.accuracy - MAX_ACCURACY_LOSS:
        raise ExportError(
            f"int8 quantisation lowers test accuracy from {float_test.accuracy:.4f} to "
            f"{served_test.accuracy:.4f}; export without quantisation (--no-quantize)"
        )
    return OptimizedModels(float_test, served_test, quantized=True)


def _check_same_outputs(exported: Path, simplified: Path, images: np.ndarray) -> None:
    difference = float(
        np.abs(predict_onnx(exported, images) - predict_onnx(simplified, images)).max()
    )
    if difference > SAME_OUTPUT_TOLERANCE:
        raise ExportError(
            f"the simplified graph's outputs differ by {difference:g} from the export; "
            "the network no longer has the layout graph.py expects"
        )


def derive_optimized_version(
    base_path: Path, source: int, train: Dataset, test: Dataset
) -> tuple[Path, OptimizedModels]:
    """Publish the next version: version `source`'s export, simplified and quantised.

    The source is a version as tf2onnx exported it (version 1) or as `train --no-quantize`
    publishes it (float `model.onnx` and `model_float.onnx`, both simplified). Keeps the
    source's SavedModel, training metadata and history; needs no TensorFlow.

    Raises:
        ExportError: the source version is missing or already quantised.
    """
    from fashion_pubsub.model.export import discard, publish_version, stage_copy

    origin = base_path / str(source)
    if not (origin / SERVED_MODEL).is_file():
        raise ExportError(f"{origin}/{SERVED_MODEL} does not exist; name an exported version")
    metadata = json.loads((origin / "metadata.json").read_text(encoding="utf-8"))
    if "quantization" in metadata:
        raise ExportError(f"version {source} is already quantised; derive from its source")
    staging = stage_copy(origin, base_path)
    try:
        optimized = optimize_version(staging, train.images, test)
        metrics = json.loads((origin / "metrics.json").read_text(encoding="utf-8"))
        for stale in ("name", "version", "created", "classes", "outputs"):
            metadata.pop(stale, None)
        metadata.update(optimized.metadata(), derived_from=source)
        metrics.update(optimized.metrics())
        return publish_version(staging, base_path, metadata, metrics), optimized
    finally:
        discard(staging)
