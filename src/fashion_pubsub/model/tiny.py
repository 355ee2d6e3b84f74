"""A tiny linear ONNX model with the trainer's signature (`images` float32 [N,28,28,1] raw
pixels -> `probabilities` [N,10]), for the tests and for benchmarking the model server
before a model is trained (`bench/bench_server.py --tiny-model`). Needs `onnx` (the dev or
train extra)."""

import json
import os
import uuid
from pathlib import Path

import numpy as np

from fashion_pubsub.classes import CLASS_NAMES

MODEL = "fashion-model"


def _weights(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.05, (784, 10)).astype(np.float32)
    bias = rng.normal(0, 0.1, (10,)).astype(np.float32)
    return weights, bias


def tiny_onnx_model(seed: int) -> bytes:
    """Reshape -> scale -> MatMul -> Add -> Softmax, with the trainer's names and shapes.

    Args:
        seed: seeds the random weights (the same seed gives the same model).
    """
    import onnx  # the dev/train extra: only the tests and the benchmark need it
    from onnx import TensorProto, helper, numpy_helper

    weights, bias = _weights(seed)
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["images", "flat_shape"], ["flat"]),
            helper.make_node("Mul", ["flat", "scale"], ["scaled"]),
            helper.make_node("MatMul", ["scaled", "weights"], ["logits0"]),
            helper.make_node("Add", ["logits0", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        [
            numpy_helper.from_array(np.array([-1, 784], dtype=np.int64), "flat_shape"),
            numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "scale"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def export_version(
    base: Path, version: int, seed: int | None = None, metadata: bool = True
) -> Path:
    """Write a version of the tiny model into a hidden folder, then rename it into place
    (atomic, as the trainer does).

    Args:
        base: the model's folder (versions are its numbered subfolders).
        version: the version number.
        seed: the weights' seed [default: the version number].
        metadata: whether to write metadata.json (the server must cope without it).
    """
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".tmp-{version}-{uuid.uuid4().hex[:6]}"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(tiny_onnx_model(version if seed is None else seed))
    if metadata:
        (staging / "metadata.json").write_text(
            json.dumps(
                {
                    "name": MODEL,
                    "version": version,
                    "classes": list(CLASS_NAMES),
                    "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}],
                    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}],
                }
            )
        )
    (staging / "metrics.json").write_text("{}")
    target = base / str(version)
    os.rename(staging, target)
    return target


def expected_probabilities(version: int, images: np.ndarray) -> np.ndarray:
    """What version `version` (seeded with its number) answers, computed with numpy.

    Args:
        version: the version (its seed).
        images: uint8 pixels [N,28,28] or [N,28,28,1].
    """
    weights, bias = _weights(version)
    logits = images.reshape(len(images), 784).astype(np.float32) / 255 @ weights + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))
