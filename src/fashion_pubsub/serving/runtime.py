"""One model version on ONNX Runtime: its signature, input checks and inference.

Knows nothing of HTTP. Inputs arrive as numpy arrays in whatever dtype the protocol
carried (uint8 from binary V2, int64/float from JSON); `prepare_inputs` converts them
to what the model was exported with, so protocol code never needs to know.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fashion_pubsub.logs import log_event
from fashion_pubsub.serving.errors import InvalidInputError, ModelLoadError

logger = logging.getLogger(__name__)

# ONNX element types as the Open Inference Protocol names them.
_OIP_DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(uint8)": "UINT8",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(bool)": "BOOL",
}
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}


# One tensor's values, for every protocol: far above what any request within the body and
# message size limits can carry (2**31 float32 values are 8 GiB), so it only stops shapes
# whose size would overflow or exhaust memory.
MAX_VALUES = 2**31


def shape_fits(shape: Sequence[int]) -> bool:
    """Whether numpy can make an array of `shape` (non-negative dimensions) holding at
    most MAX_VALUES values. The product is exact (numpy's int64 one wraps around, so
    [2**62, 4] would look like 0 values) and stops early, however many dimensions a
    client sends; a zero dimension counts as one, since numpy multiplies every dimension
    and cannot make even the empty array of [0, 2**62]."""
    bound = 1
    for dim in shape:
        bound *= max(dim, 1)
        if bound > MAX_VALUES:
            return False
    return True


DATATYPES_BY_NUMPY = {dtype: name for name, dtype in NUMPY_DTYPES.items()}
# Image inputs of this project carry raw pixels; the model normalises them itself.
_PIXEL_RANGE = (0.0, 255.0)


@dataclass(frozen=True)
class TensorSpec:
    """Name, Open Inference Protocol datatype, shape (-1 for any size) and allowed values.

    Args:
        name: tensor name in the ONNX graph.
        datatype: e.g. "FP32".
        shape: dimensions, -1 where any size is accepted.
        value_range: inclusive (low, high) accepted values, or None for any finite value.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    value_range: tuple[float, float] | None = field(default=None)


class OnnxModel:
    """A loaded model version; `warm_up()` before it takes traffic.

    Args:
        folder: the version folder (`model.onnx`, optional `metadata.json`).
        version: its number.
        threads: ONNX Runtime intra-op threads (0 lets ONNX Runtime choose).
    """

    def __init__(self, folder: Path, version: int, threads: int = 0) -> None:
        import onnxruntime as ort

        self.folder = folder
        self.version = version
        self.metadata = _read_metadata(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle ONNX Runtime threads spin-wait for the next run by default. Beside a broker
        # and a pipeline on the same cores, that spinning doubled the server's CPU time per
        # image (measured in `fashion-pubsub bench`); a sleeping thread costs ~nothing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped errors
            raise ModelLoadError(
                f"{folder}/model.onnx cannot be loaded ({exc}); re-export this version"
            ) from exc
        self.inputs = [_spec(node, self.metadata, "inputs") for node in self._session.get_inputs()]
        self.outputs = [_spec(node, {}, "outputs") for node in self._session.get_outputs()]
        classes = self.metadata.get("classes", [])
        self.classes: list[str] = [str(c) for c in classes] if isinstance(classes, list) else []

    def warm_up(self) -> None:
        """Run one inference so the first real request does not pay for initialisation."""
        feeds = {}
        for spec in self.inputs:
            shape = tuple(1 if d < 0 else d for d in spec.shape)
            feeds[spec.name] = np.zeros(shape, dtype=NUMPY_DTYPES.get(spec.datatype, np.float32))
        try:
            self.predict(feeds)
        except Exception as exc:  # a graph that fails on zeros would fail on traffic too
            raise ModelLoadError(
                f"{self.folder}: warm-up inference failed ({exc}); re-export this version"
            ) from exc
        log_event(logger, "model_warmed_up", folder=str(self.folder), version=self.version)

    def prepare_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check names, shapes and values; convert dtypes; add a trailing 1 where needed.

        Raises:
            InvalidInputError: a missing or unknown input, a wrong shape, or bad values.
        """
        expected = {spec.name for spec in self.inputs}
        if set(inputs) != expected:
            raise InvalidInputError(
                f"inputs {sorted(inputs)} given, the model takes "
                f"{sorted(expected)}: send exactly those"
            )
        return {spec.name: _conform(spec, inputs[spec.name]) for spec in self.inputs}

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on prepared inputs; returns outputs by name."""
        outputs = self._session.run(None, inputs)
        return {spec.name: value for spec, value in zip(self.outputs, outputs, strict=True)}


def _conform(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    shape = _fit_shape(spec, array.shape)
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"input {spec.name!r} has dtype {array.dtype}; send numbers")
    target = NUMPY_DTYPES.get(spec.datatype, np.dtype(np.float32))
    if array.dtype.kind == "f" or spec.value_range is not None:
        _check_values(spec, array)
    if (
        array.dtype.kind == "f"
        and target.kind in "iu"
        and not np.array_equal(array, np.rint(array))
    ):
        raise InvalidInputError(
            f"input {spec.name!r} has fractional values; the model takes whole numbers "
            f"({spec.datatype}): send raw pixel values, not normalised ones"
        )
    return np.ascontiguousarray(array.reshape(shape), dtype=target)


def _fit_shape(spec: TensorSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) == len(spec.shape) - 1 and spec.shape[-1] == 1:
        shape = (*shape, 1)  # [N,28,28] for a model that wants [N,28,28,1]
    ok = len(shape) == len(spec.shape) and all(
        want < 0 or want == got for want, got in zip(spec.shape, shape, strict=True)
    )
    if not ok or (shape and shape[0] == 0):
        wanted = ",".join("N" if d < 0 else str(d) for d in spec.shape)
        raise InvalidInputError(
            f"input {spec.name!r} has shape {list(shape)}; the model takes [{wanted}] (N >= 1)"
        )
    return shape


def _check_values(spec: TensorSpec, array: np.ndarray) -> None:
    if array.size == 0:
        return
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInputError(f"input {spec.name!r} contains NaN or infinity")
    if spec.value_range is not None and (low < spec.value_range[0] or high > spec.value_range[1]):
        raise InvalidInputError(
            f"input {spec.name!r} has values from {low:g} to {high:g}; the model takes "
            f"{spec.value_range[0]:g}..{spec.value_range[1]:g} (raw pixels, not normalised)"
        )


def _spec(node: Any, metadata: dict[str, Any], kind: str) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
    datatype = _OIP_DATATYPES.get(node.type, node.type)
    described = {e.get("name"): e for e in metadata.get(kind, []) if isinstance(e, dict)}
    entry = described.get(node.name, {})
    value_range = entry.get("value_range") or entry.get("range")
    if isinstance(value_range, list) and len(value_range) == 2:
        return TensorSpec(
            node.name, datatype, shape, (float(value_range[0]), float(value_range[1]))
        )
    is_image = kind == "inputs" and shape[1:3] == (28, 28)
    return TensorSpec(node.name, datatype, shape, _PIXEL_RANGE if is_image else None)


def _read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / "metadata.json"
    if not path.exists():
        return {}  # the signature then comes from the ONNX graph alone
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON ({exc}); re-export this version") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object; re-export this version")
    return data
