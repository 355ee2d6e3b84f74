"""Runs TF Serving's own Python client (tensorflow-serving-api) for the tests, one JSON
command per stdin line, one JSON answer per stdout line. A separate process: it imports
TensorFlow. Each command names the server in "target" (host:port)."""

import json
import os
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow.core.framework import tensor_pb2, types_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

_LIMIT = 256 * 1024 * 1024


def _spec(spec: Any, command: dict[str, Any]) -> None:
    spec.name = command.get("model", "fashion-model")
    if command.get("version") is not None:
        spec.version.value = command["version"]
    if command.get("label") is not None:
        spec.version_label = command["label"]


def _tensor(command: dict[str, Any]) -> Any:
    encoding = command.get("encoding", "tensor_content")
    if encoding == "zeros":  # a large float32 batch of zeros
        return tf.make_tensor_proto(np.zeros((command["count"], 28, 28, 1), np.float32))
    images = np.load(command["images"])
    if encoding == "tensor_content":  # what tf.make_tensor_proto does with an array
        return tf.make_tensor_proto(images.astype(command.get("dtype", "uint8")))
    # what other clients send: one typed value per pixel
    dtype = types_pb2.DT_UINT8 if encoding == "int_val" else types_pb2.DT_FLOAT
    proto = tensor_pb2.TensorProto(dtype=dtype)
    for size in command.get("shape", images.shape):
        proto.tensor_shape.dim.add(size=size)
    values = images.reshape(-1).tolist()
    (proto.int_val if encoding == "int_val" else proto.float_val).extend(values)
    return proto


def predict(stubs: Any, command: dict[str, Any]) -> dict[str, Any]:
    request = predict_pb2.PredictRequest()
    _spec(request.model_spec, command)
    request.model_spec.signature_name = command.get("signature", "")
    request.inputs[command.get("input", "images")].CopyFrom(_tensor(command))
    request.output_filter.extend(command.get("output_filter", []))
    response = stubs["predict"].Predict(request, timeout=60)
    return {
        "outputs": {k: tf.make_ndarray(v).tolist() for k, v in response.outputs.items()},
        "version": response.model_spec.version.value,
        "signature_name": response.model_spec.signature_name,
    }


def metadata(stubs: Any, command: dict[str, Any]) -> dict[str, Any]:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    _spec(request.model_spec, command)
    request.metadata_field.extend(command.get("fields", ["signature_def"]))
    response = stubs["predict"].GetModelMetadata(request, timeout=30)
    packed = response.metadata["signature_def"]
    signatures = get_model_metadata_pb2.SignatureDefMap()
    unpacked = packed.Unpack(signatures)
    signature = signatures.signature_def["serving_default"]

    def info(entry: Any) -> dict[str, Any]:
        return {
            "name": entry.name,
            "dtype": tf.dtypes.as_dtype(entry.dtype).name,
            "shape": [d.size for d in entry.tensor_shape.dim],
        }

    return {
        "type_url": packed.type_url,
        "unpacked": unpacked,
        "method_name": signature.method_name,
        "inputs": {k: info(v) for k, v in signature.inputs.items()},
        "outputs": {k: info(v) for k, v in signature.outputs.items()},
        "version": response.model_spec.version.value,
    }


def status(stubs: Any, command: dict[str, Any]) -> dict[str, Any]:
    request = get_model_status_pb2.GetModelStatusRequest()
    _spec(request.model_spec, command)
    response = stubs["model"].GetModelStatus(request, timeout=30)
    state = get_model_status_pb2.ModelVersionStatus.State.Name
    return {
        "versions": [
            {
                "version": row.version,
                "state": state(row.state),
                "error_code": row.status.error_code,
                "error_message": row.status.error_message,
            }
            for row in response.model_version_status
        ]
    }


def reload(stubs: Any, command: dict[str, Any]) -> dict[str, Any]:
    config = text_format.Parse(command["config"], model_server_config_pb2.ModelServerConfig())
    request = model_management_pb2.ReloadConfigRequest(config=config)
    response = stubs["model"].HandleReloadConfigRequest(request, timeout=60)
    return {"error_code": response.status.error_code}


def unsupported(stubs: Any, command: dict[str, Any]) -> dict[str, Any]:
    method, request = {
        "Classify": ("Classify", classification_pb2.ClassificationRequest()),
        "Regress": ("Regress", regression_pb2.RegressionRequest()),
        "MultiInference": ("MultiInference", inference_pb2.MultiInferenceRequest()),
    }[command["method"]]
    if method != "MultiInference":  # its model specs are per task
        request.model_spec.name = "fashion-model"
        example = request.input.example_list.examples.add()  # a real tf.Example
        example.features.feature["pixels"].int64_list.value.extend(range(784))
        example.features.feature["name"].bytes_list.value.append(b"\xff\xfe not UTF-8")
    getattr(stubs["predict"], method)(request, timeout=30)
    return {}


def raw(stubs: Any, command: dict[str, Any]) -> dict[str, Any]:
    call = stubs["channel"].unary_unary(command["method"])
    return {"size": len(call(bytes.fromhex(command["hex"]), timeout=30))}


OPS = {
    "predict": predict,
    "metadata": metadata,
    "status": status,
    "reload": reload,
    "unsupported": unsupported,
    "raw": raw,
}


def _stubs(target: str) -> dict[str, Any]:
    options = [
        ("grpc.max_send_message_length", _LIMIT),
        ("grpc.max_receive_message_length", _LIMIT),
    ]
    channel = grpc.insecure_channel(target, options=options)
    return {
        "channel": channel,
        "predict": prediction_service_pb2_grpc.PredictionServiceStub(channel),
        "model": model_service_pb2_grpc.ModelServiceStub(channel),
    }


def main() -> None:
    by_target: dict[str, dict[str, Any]] = {}
    for line in sys.stdin:
        command = json.loads(line)
        target = command.pop("target")
        if target not in by_target:
            by_target[target] = _stubs(target)
        try:
            answer = {"code": "OK", **OPS[command["op"]](by_target[target], command)}
        except grpc.RpcError as exc:
            answer = {"code": exc.code().name, "details": exc.details()}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
