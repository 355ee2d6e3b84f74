"""Static int8 quantisation of the served model with ONNX Runtime's own tools.

The convolutions are nearly all of the model's arithmetic; with int8 weights
(per output channel) and uint8 activations, calibrated on training images,
ONNX Runtime runs them on the CPU's integer dot-product instructions at about
twice the float rate, for a test accuracy within a few hundredths of a percent
(see docs/model.md). The classifier head (last dense layer and softmax) stays
float: it costs nothing and keeps the probabilities exact enough to report as
confidences.
"""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.logs import log_event
from fashion_pubsub.model.errors import ExportError

logger = logging.getLogger(__name__)

CALIBRATION_IMAGES = 2000
CALIBRATION_BATCH = 100


def quantize_for_serving(float_model: Path, target: Path, calibration: np.ndarray) -> None:
    """Write an int8 version of `float_model` (uint8 pixel input) to `target`.

    Args:
        float_model: ONNX file taking uint8 images [N,28,28,1] (see `graph.simplify_for_serving`).
        target: where to write the quantised model.
        calibration: uint8 images [N,28,28] whose activations set the quantisation ranges.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    graph = onnx.load(str(float_model)).graph
    head = _classifier_head(graph)
    quantize_static(
        str(float_model),
        str(target),
        _Calibration(calibration, graph.input[0].name),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=head,
        calibration_providers=["CPUExecutionProvider"],
    )
    log_event(logger, "quantized", model=str(target), float_nodes=head)


def _classifier_head(graph: Any) -> list[str]:
    """Names of the nodes from the last MatMul or Gemm to the graph's output."""
    nodes = list(graph.node)
    last = max(
        (i for i, n in enumerate(nodes) if n.op_type in ("MatMul", "Gemm")),
        default=None,
    )
    if last is None:
        raise ExportError("the model has no dense layer; cannot find its classifier head")
    return [n.name for n in nodes[last:]]


class _Calibration:
    """Feeds calibration batches to `quantize_static`, which needs only `get_next`."""

    def __init__(self, images: np.ndarray, input_name: str) -> None:
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ExportError(f"calibration needs uint8 images [N,28,28], got {images.shape}")
        self._batches = _batches(images[:CALIBRATION_IMAGES, :, :, None], input_name)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _batches(images: np.ndarray, input_name: str) -> Iterator[dict[str, np.ndarray]]:
    for start in range(0, len(images), CALIBRATION_BATCH):
        yield {input_name: images[start : start + CALIBRATION_BATCH]}
