"""The float graph simplified for serving: same answers, uint8 input, no wasted work."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.model.errors import ExportError
from fashion_pubsub.model.evaluate import predict_onnx
from fashion_pubsub.model.graph import simplify_for_serving
from tests.conftest import MODEL_BASE_PATH

EXPORTED = MODEL_BASE_PATH / "1" / "model.onnx"  # as tf2onnx wrote it


def test_simplified_graph_takes_uint8_and_answers_as_the_export(
    data_dir: Path, tmp_path: Path
) -> None:
    simplified = simplify_for_serving(onnx.load(str(EXPORTED)))
    path = tmp_path / "simplified.onnx"
    onnx.save(simplified, str(path))
    images = load_split(data_dir, "test").images[:500]
    assert simplified.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    ops = [node.op_type for node in simplified.graph.node]
    assert "Transpose" not in ops and "Mul" not in ops[:3]
    assert np.abs(predict_onnx(path, images) - predict_onnx(EXPORTED, images)).max() < 1e-5


def test_a_rescaling_with_an_offset_is_refused_not_folded_wrongly() -> None:
    model = onnx.load(str(EXPORTED))
    add = next(node for node in model.graph.node if node.op_type == "Add")
    offset = next(t for t in model.graph.initializer if t.name == add.input[1])
    offset.CopyFrom(numpy_helper.from_array(np.array(0.5, np.float32), offset.name))
    with pytest.raises(ExportError, match="only a pure scale folds"):
        simplify_for_serving(model)
