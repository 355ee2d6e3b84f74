"""Tensors on the wire <-> numpy: TensorFlow's TensorProto and the Open Inference
Protocol's typed contents and raw bytes. Every check of what a client sent happens here,
before anything is allocated from a client's shape: a shape must match the data it
comes with, so a forged shape cannot make the server allocate."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fashion_pubsub.serving.errors import InvalidInputError
from fashion_pubsub.serving.protos import inference_pb2 as oip
from fashion_pubsub.serving.protos import tensorflow_pb2 as tf
from fashion_pubsub.serving.runtime import NUMPY_DTYPES, shape_fits

# TensorFlow dtypes served, and the TensorProto field that carries each when not packed
# in tensor_content (TensorFlow puts 8- and 16-bit integers in int_val).
_TF_DTYPES: dict[tf.DataType, tuple[np.dtype[Any], str]] = {
    tf.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    tf.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    tf.DT_HALF: (np.dtype(np.float16), "half_val"),
    tf.DT_INT8: (np.dtype(np.int8), "int_val"),
    tf.DT_INT16: (np.dtype(np.int16), "int_val"),
    tf.DT_INT32: (np.dtype(np.int32), "int_val"),
    tf.DT_INT64: (np.dtype(np.int64), "int64_val"),
    tf.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    tf.DT_UINT16: (np.dtype(np.uint16), "int_val"),
    tf.DT_UINT32: (np.dtype(np.uint32), "uint32_val"),
    tf.DT_UINT64: (np.dtype(np.uint64), "uint64_val"),
    tf.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
}
TF_DTYPE_BY_NUMPY = {dtype: code for code, (dtype, _) in _TF_DTYPES.items()}
TF_DTYPE_BY_DATATYPE = {name: TF_DTYPE_BY_NUMPY[dtype] for name, dtype in NUMPY_DTYPES.items()}

# Open Inference Protocol datatypes and the InferTensorContents field of each.
_OIP_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def from_tensor_proto(name: str, proto: tf.TensorProto) -> np.ndarray:
    """A TensorProto as an array: tensor_content, or the typed field of its dtype (one
    value fills the whole shape, as in TensorFlow).

    Args:
        name: the input's name, for messages.
        proto: the tensor as sent.

    Raises:
        InvalidInputError: an unserved dtype, a bad shape, or values that do not fit it.
    """
    if proto.dtype not in _TF_DTYPES:
        raise InvalidInputError(
            f"input {name!r}: dtype {tf.DataType.Name(proto.dtype)} is not served; "
            "send DT_UINT8 or DT_FLOAT pixels"
        )
    dtype, field = _TF_DTYPES[proto.dtype]
    shape = _shape(name, [d.size for d in proto.tensor_shape.dim])
    count = _count(name, shape)
    if proto.tensor_content:
        return _from_bytes(name, proto.tensor_content, shape, dtype)
    values = getattr(proto, field)
    if field == "half_val":  # float16 bit patterns in int32s
        array = _typed(name, values, np.dtype(np.uint16)).view(np.float16)
    else:
        array = _typed(name, values, dtype)
    if len(array) == 1 and count != 1:
        return np.full(shape, array[0], dtype=dtype)
    if len(array) != count:
        raise InvalidInputError(
            f"input {name!r}: {len(array)} values do not fill shape {list(shape)}"
        )
    return array.reshape(shape)


def to_tensor_proto(array: np.ndarray) -> tf.TensorProto:
    """An output array as a TensorProto with its values packed in tensor_content.

    Args:
        array: a numeric output of the model.
    """
    array = np.ascontiguousarray(array)
    proto = tf.TensorProto(dtype=TF_DTYPE_BY_NUMPY[array.dtype], tensor_content=array.tobytes())
    proto.tensor_shape.dim.extend(tf.TensorShapeProto.Dim(size=d) for d in array.shape)
    return proto


def from_infer_input(
    tensor: oip.ModelInferRequest.InferInputTensor, raw: bytes | None
) -> np.ndarray:
    """An Open Inference Protocol input from its raw bytes, or else its typed contents.

    Args:
        tensor: the input's name, datatype, shape and (without raw bytes) contents.
        raw: its entry of raw_input_contents, or None when the request has none.

    Raises:
        InvalidInputError: an unknown datatype, a bad shape, or data that does not fit it.
    """
    name, datatype = tensor.name, tensor.datatype
    if datatype not in NUMPY_DTYPES:
        raise InvalidInputError(
            f"input {name!r}: datatype {datatype!r} is not supported; "
            f"use one of {list(NUMPY_DTYPES)}"
        )
    dtype = NUMPY_DTYPES[datatype]
    shape = _shape(name, list(tensor.shape))
    if raw is not None:
        return _from_bytes(name, raw, shape, dtype)
    field = _OIP_FIELDS.get(datatype)
    if field is None:
        raise InvalidInputError(f"input {name!r}: {datatype} travels only in raw_input_contents")
    array = _typed(name, getattr(tensor.contents, field), dtype)
    if len(array) != _count(name, shape):
        raise InvalidInputError(
            f"input {name!r}: {len(array)} values do not fill shape {list(shape)}"
        )
    return array.reshape(shape)


def set_infer_output(
    tensor: oip.ModelInferResponse.InferOutputTensor, array: np.ndarray, raw: list[bytes] | None
) -> None:
    """Fill an output tensor: its bytes appended to `raw`, or else typed contents.

    Args:
        tensor: the output, its name and datatype already set.
        array: the output's values.
        raw: the response's raw_output_contents so far, or None for typed contents.
    """
    array = np.ascontiguousarray(array)
    tensor.shape.extend(array.shape)
    if raw is not None:
        raw.append(array.tobytes())
        return
    getattr(tensor.contents, _OIP_FIELDS[tensor.datatype]).extend(array.reshape(-1).tolist())


def _shape(name: str, dims: Sequence[int]) -> tuple[int, ...]:
    if any(d < 0 for d in dims):
        raise InvalidInputError(f"input {name!r}: shape {list(dims)} has a negative dimension")
    return tuple(int(d) for d in dims)


def _count(name: str, shape: tuple[int, ...]) -> int:
    if not shape_fits(shape):
        raise InvalidInputError(f"input {name!r}: shape {list(shape)} is far too large")
    return math.prod(shape)


def _from_bytes(name: str, data: bytes, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    expected = _count(name, shape) * dtype.itemsize
    if len(data) != expected:
        raise InvalidInputError(
            f"input {name!r}: shape {list(shape)} of {dtype} needs {expected} bytes, "
            f"got {len(data)}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _typed(name: str, values: Sequence[Any], dtype: np.dtype[Any]) -> np.ndarray:
    """Repeated proto values as `dtype`, refusing values the dtype cannot hold (an
    int_val of 300 for DT_UINT8) rather than wrapping them around."""
    wide = np.asarray(values)
    if wide.size and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if wide.min() < info.min or wide.max() > info.max:
            raise InvalidInputError(
                f"input {name!r}: values from {wide.min()} to {wide.max()} do not fit {dtype}"
            )
    return wide.astype(dtype, copy=False)
