"""Tensors from gRPC clients become arrays only when their shape, dtype and data agree;
anything else is the request's INVALID_ARGUMENT (InvalidInputError), never a crash or a
large allocation."""

import numpy as np
import pytest

from fashion_pubsub.serving.errors import InvalidInputError
from fashion_pubsub.serving.grpc_api.tensors import (
    from_infer_input,
    from_tensor_proto,
    set_infer_output,
    to_tensor_proto,
)
from fashion_pubsub.serving.protos import inference_pb2 as oip
from fashion_pubsub.serving.protos import tensorflow_pb2 as tf


def tensor(dtype: int, shape: list[int], **fields: object) -> tf.TensorProto:
    proto = tf.TensorProto(dtype=dtype, **fields)  # type: ignore[arg-type]
    proto.tensor_shape.dim.extend(tf.TensorShapeProto.Dim(size=d) for d in shape)
    return proto


PIXELS = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)


@pytest.mark.parametrize(
    "proto",
    [
        tensor(tf.DT_UINT8, [1, 3, 4], tensor_content=PIXELS.tobytes()),
        tensor(tf.DT_UINT8, [1, 3, 4], int_val=PIXELS.ravel().tolist()),
        tensor(tf.DT_FLOAT, [1, 3, 4], float_val=PIXELS.ravel().tolist()),
        tensor(tf.DT_INT64, [1, 3, 4], int64_val=PIXELS.ravel().tolist()),
        tensor(
            tf.DT_HALF,
            [1, 3, 4],
            half_val=PIXELS.astype(np.float16).view(np.uint16).ravel().tolist(),
        ),
    ],
)
def test_tensor_content_and_typed_values_give_the_same_array(proto: tf.TensorProto) -> None:
    array = from_tensor_proto("images", proto)
    assert array.shape == (1, 3, 4)
    np.testing.assert_array_equal(array, PIXELS)


def test_one_value_fills_the_shape_as_in_tensorflow() -> None:
    array = from_tensor_proto("x", tensor(tf.DT_FLOAT, [2, 3], float_val=[7.0]))
    np.testing.assert_array_equal(array, np.full((2, 3), 7.0))


@pytest.mark.parametrize(
    ("proto", "reason"),
    [
        (tensor(tf.DT_STRING, [1], string_val=[b"x"]), "is not served"),
        (tensor(tf.DT_UINT8, [1, 3, 4], tensor_content=bytes(11)), "needs 12 bytes"),
        (tensor(tf.DT_UINT8, [2], int_val=[1, 300]), "do not fit uint8"),
        (tensor(tf.DT_INT8, [2], int_val=[-129, 0]), "do not fit int8"),
        (tensor(tf.DT_HALF, [2], half_val=[70_000, 0]), "do not fit uint16"),
        (tensor(tf.DT_FLOAT, [2, 2], float_val=[1.0, 2.0]), "do not fill shape"),
        (tensor(tf.DT_FLOAT, [2, -1], float_val=[1.0]), "negative dimension"),
        (tensor(tf.DT_FLOAT, [2**40, 2**40], tensor_content=b"1234"), "far too large"),
        # No values, yet numpy cannot make the array: its other dimensions still multiply.
        (tensor(tf.DT_FLOAT, [0, 2**31, 2**31, 2**31]), "far too large"),
    ],
)
def test_bad_tensors_are_invalid_input(proto: tf.TensorProto, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        from_tensor_proto("images", proto)


def test_outputs_go_back_packed_with_dtype_and_shape() -> None:
    probabilities = np.random.default_rng(0).random((3, 10), dtype=np.float32)
    proto = to_tensor_proto(probabilities)
    assert proto.dtype == tf.DT_FLOAT and [d.size for d in proto.tensor_shape.dim] == [3, 10]
    np.testing.assert_array_equal(from_tensor_proto("p", proto), probabilities)


def infer_input(datatype: str, shape: list[int]) -> oip.ModelInferRequest.InferInputTensor:
    return oip.ModelInferRequest.InferInputTensor(name="images", datatype=datatype, shape=shape)


def test_oip_raw_and_typed_inputs_give_the_same_array() -> None:
    raw = from_infer_input(infer_input("UINT8", [1, 3, 4]), PIXELS.tobytes())
    typed = infer_input("UINT8", [1, 3, 4])
    typed.contents.uint_contents.extend(PIXELS.ravel().tolist())
    np.testing.assert_array_equal(raw, PIXELS)
    np.testing.assert_array_equal(from_infer_input(typed, None), PIXELS)


@pytest.mark.parametrize(
    ("datatype", "shape", "raw", "reason"),
    [
        ("BYTES", [1], b"x", "not supported"),
        ("FP16", [1], None, "only in raw_input_contents"),
        ("UINT8", [1, 3, 4], bytes(13), "needs 12 bytes"),
        ("UINT8", [1, 3, 4], None, "do not fill shape"),
        ("FP32", [2**62, 4], bytes(4), "far too large"),
        ("FP32", [0, 2**62], b"", "far too large"),
    ],
)
def test_bad_oip_inputs_are_invalid_input(
    datatype: str, shape: list[int], raw: bytes | None, reason: str
) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        from_infer_input(infer_input(datatype, shape), raw)


def test_oip_outputs_are_raw_or_typed() -> None:
    probabilities = np.ones((2, 10), dtype=np.float32)
    raw: list[bytes] = []
    output = oip.ModelInferResponse.InferOutputTensor(name="p", datatype="FP32")
    set_infer_output(output, probabilities, raw)
    assert list(output.shape) == [2, 10] and raw == [probabilities.tobytes()]
    typed = oip.ModelInferResponse.InferOutputTensor(name="p", datatype="FP32")
    set_infer_output(typed, probabilities, None)
    assert list(typed.contents.fp32_contents) == [1.0] * 20
