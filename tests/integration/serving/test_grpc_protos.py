"""Our TF Serving messages are wire-compatible with tensorflow-serving-api's: every field
we define has TF Serving's name, number, type and label. TF Serving's messages are read
in a subprocess, which imports TensorFlow."""

import json
import subprocess
import sys

import pytest

from fashion_pubsub.serving.protos import tensorflow_serving_pb2 as ours
from tests.support.proto_shapes import is_subset, wire_shape

MESSAGES = {
    "PredictRequest": "predict_pb2",
    "PredictResponse": "predict_pb2",
    "GetModelMetadataRequest": "get_model_metadata_pb2",
    "GetModelMetadataResponse": "get_model_metadata_pb2",
    "SignatureDefMap": "get_model_metadata_pb2",
    "GetModelStatusRequest": "get_model_status_pb2",
    "GetModelStatusResponse": "get_model_status_pb2",
    "ReloadConfigRequest": "model_management_pb2",
    "ReloadConfigResponse": "model_management_pb2",
}
DUMP = """
import importlib, json, sys
from tests.support.proto_shapes import wire_shape
messages = json.loads(sys.argv[1])
shapes = {}
for name, module in messages.items():
    descriptor = getattr(importlib.import_module("tensorflow_serving.apis." + module), name)
    shapes[name] = wire_shape(descriptor.DESCRIPTOR)
print(json.dumps(shapes))
"""


@pytest.fixture(scope="module")
def tf_serving_shapes() -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", DUMP, json.dumps(MESSAGES)],
        capture_output=True,
        text=True,
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ":".join(sys.path)},
    ).stdout
    shapes: dict[str, object] = json.loads(out.splitlines()[-1])
    return shapes


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_our_messages_are_tf_servings_on_the_wire(
    name: str, tf_serving_shapes: dict[str, object]
) -> None:
    mine = json.loads(json.dumps(wire_shape(getattr(ours, name).DESCRIPTOR)))
    assert is_subset(mine, tf_serving_shapes[name])
