"""Rewriting the exported float graph into the leaner one the server runs.

tf2onnx translates the Keras network faithfully, and with it two costs that only
make sense inside Keras:
- the `Rescaling(1/255)` layer: a float multiply over every pixel of every request.
  Convolution is linear, so scaling the first convolution's weights by 1/255 gives
  the same result, and the graph can then take the raw uint8 pixels that clients send.
- Keras flattens channels-last, so an NCHW graph transposes the last feature map
  before flattening it. Permuting the rows of the following dense layer's weights
  instead lets the graph flatten in place.

Both rewrites change no arithmetic result beyond float rounding; `export` checks
that on real images.
"""

from typing import Any

import numpy as np

from fashion_pubsub.model.errors import ExportError

# Keras' channels-last flatten seen from an NCHW tensor.
_CHANNELS_LAST = [0, 2, 3, 1]


def simplify_for_serving(model: Any) -> Any:
    """A copy of `model` (onnx.ModelProto) that takes uint8 pixels, with the input
    rescaling folded into the first convolution and the flatten's transpose folded
    into the dense weights.

    Raises:
        ExportError: the graph does not have the shape this network exports to.
    """
    import onnx

    simplified = onnx.shape_inference.infer_shapes(model)  # a copy, with shapes to read
    graph = _Graph(simplified.graph)
    graph.take_uint8_pixels()
    graph.flatten_without_transpose()
    graph.remove_unused()
    simplified.graph.ClearField("value_info")
    onnx.checker.check_model(simplified)
    return simplified


class _Graph:
    """Editing helpers over an onnx GraphProto, which it changes in place."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.initializers = {t.name: t for t in graph.initializer}

    def producer(self, tensor: str) -> Any:
        return next((n for n in self.graph.node if tensor in n.output), None)

    def consumers(self, tensor: str) -> list[Any]:
        return [n for n in self.graph.node if tensor in n.input]

    def constant(self, name: str) -> np.ndarray:
        from onnx import numpy_helper

        if name not in self.initializers:
            raise ExportError(f"expected a constant for {name!r} in the exported graph")
        return numpy_helper.to_array(self.initializers[name])

    def set_constant(self, name: str, value: np.ndarray) -> None:
        from onnx import numpy_helper

        self.initializers[name].CopyFrom(numpy_helper.from_array(value, name))

    def add_constant(self, name: str, value: np.ndarray) -> None:
        from onnx import numpy_helper

        tensor = numpy_helper.from_array(value, name)
        self.graph.initializer.append(tensor)
        self.initializers[name] = tensor

    def single_consumer(self, tensor: str, op_type: str) -> Any:
        found = self.consumers(tensor)
        if len(found) != 1 or found[0].op_type != op_type:
            kinds = [n.op_type for n in found]
            raise ExportError(f"expected one {op_type} after {tensor!r}, found {kinds}")
        return found[0]

    def take_uint8_pixels(self) -> None:
        """input -> Mul(1/255) -> Add(0) -> Reshape -> Conv
        becomes uint8 input -> Cast -> Reshape -> Conv(weights / 255)."""
        from onnx import TensorProto, helper

        pixels = self.graph.input[0]
        scale_node = self.single_consumer(pixels.name, "Mul")
        shift_node = self.single_consumer(scale_node.output[0], "Add")
        scale = float(self.constant(scale_node.input[1]))
        shift = float(self.constant(shift_node.input[1]))
        if shift != 0.0:
            # Zero padding would see the shift at the borders: folding it is not exact.
            raise ExportError(f"the input rescaling adds {shift}; only a pure scale folds")
        to_nchw = self.single_consumer(shift_node.output[0], "Reshape")  # one channel: a reshape
        conv = self.single_consumer(to_nchw.output[0], "Conv")
        weights = self.constant(conv.input[1])
        self.set_constant(conv.input[1], (weights * scale).astype(weights.dtype))
        as_float = f"{pixels.name}_as_float"
        _replace_input(to_nchw, shift_node.output[0], as_float)
        self.graph.node.remove(scale_node)
        self.graph.node.remove(shift_node)
        cast = helper.make_node("Cast", [pixels.name], [as_float], to=TensorProto.FLOAT)
        self.graph.node.insert(0, cast)
        pixels.type.tensor_type.elem_type = TensorProto.UINT8

    def flatten_without_transpose(self) -> None:
        """Transpose(NCHW->NHWC) -> Reshape -> MatMul  becomes  Reshape -> MatMul(rows permuted)."""
        for matmul in [n for n in self.graph.node if n.op_type == "MatMul"]:
            flatten = self.producer(matmul.input[0])
            if flatten is None or flatten.op_type != "Reshape":
                continue
            transpose = self.producer(flatten.input[0])
            if transpose is None or transpose.op_type != "Transpose":
                continue
            if list(transpose.attribute[0].ints) != _CHANNELS_LAST:
                continue
            self._fold_transpose(transpose, flatten, matmul)
            return
        raise ExportError("found no channels-last flatten before a dense layer to simplify")

    def _fold_transpose(self, transpose: Any, flatten: Any, matmul: Any) -> None:
        from onnx import helper

        channels, height, width = self._shape(transpose.input[0])[1:]
        weights = self.constant(matmul.input[1])
        # Row r of the NCHW flatten is (c, h, w); Keras put that value at row (h, w, c).
        rows = np.arange(height * width * channels).reshape(height, width, channels)
        self.set_constant(matmul.input[1], weights[rows.transpose(2, 0, 1).reshape(-1)])
        shape_name = f"{flatten.name}_flat_shape"
        self.add_constant(shape_name, np.array([-1, channels * height * width], np.int64))
        reshape = helper.make_node(
            "Reshape", [transpose.input[0], shape_name], [flatten.output[0]], name=flatten.name
        )
        position = list(self.graph.node).index(flatten)
        self.graph.node.remove(flatten)
        self.graph.node.insert(position, reshape)

    def _shape(self, tensor: str) -> list[int]:
        for info in self.graph.value_info:
            if info.name == tensor:
                dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
                if len(dims) == 4 and all(dims[1:]):
                    return dims
        raise ExportError(f"the shape of {tensor!r} is unknown; cannot fold the flatten")

    def remove_unused(self) -> None:
        """Drop nodes whose outputs nothing reads (the old flatten's shape arithmetic)."""
        wanted = {o.name for o in self.graph.output}
        changed = True
        while changed:
            needed = wanted | {i for n in self.graph.node for i in n.input}
            dead = [n for n in self.graph.node if not needed.intersection(n.output)]
            for node in dead:
                self.graph.node.remove(node)
            changed = bool(dead)
        needed = {i for n in self.graph.node for i in n.input}
        for tensor in [t for t in self.graph.initializer if t.name not in needed]:
            self.graph.initializer.remove(tensor)


def _replace_input(node: Any, old: str, new: str) -> None:
    for index, name in enumerate(node.input):
        if name == old:
            node.input[index] = new
