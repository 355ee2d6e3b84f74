"""TensorFlow Serving's gRPC API: PredictionService (Predict, GetModelMetadata) and
ModelService (GetModelStatus, HandleReloadConfigRequest), as calls on the data plane.
Converts protobuf to neutral calls and back; knows no gRPC transport details.

Every handler takes `plane`, the data plane REST shares, and `request`, the parsed
request message, and answers with the response message.
"""

from pathlib import Path

from fashion_pubsub.serving.dataplane import DataPlane, InferRequest, ModelRef
from fashion_pubsub.serving.errors import (
    BasePathMissingError,
    InvalidInputError,
    SignatureNotFoundError,
)
from fashion_pubsub.serving.grpc_api.tensors import (
    TF_DTYPE_BY_DATATYPE,
    from_tensor_proto,
    to_tensor_proto,
)
from fashion_pubsub.serving.model_config import from_proto
from fashion_pubsub.serving.protos import tensorflow_pb2 as tf
from fashion_pubsub.serving.protos import tensorflow_serving_pb2 as tfs
from fashion_pubsub.serving.runtime import OnnxModel, TensorSpec

SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
# The Any in GetModelMetadataResponse names TF Serving's public message, whatever our
# private proto package is: clients unpack it by this URL.
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
_STATES = {"AVAILABLE": tfs.ModelVersionStatus.AVAILABLE, "END": tfs.ModelVersionStatus.END}


def model_ref(spec: tfs.ModelSpec) -> ModelRef:
    """What a ModelSpec names: a model and a version number, a label, or neither."""
    if not spec.name:
        raise InvalidInputError("model_spec.name is missing; name the model to use")
    choice = spec.WhichOneof("version_choice")
    return ModelRef(
        spec.name,
        spec.version.value if choice == "version" else None,
        spec.version_label if choice == "version_label" else None,
    )


def _answer_spec(spec: tfs.ModelSpec, model: OnnxModel, signature: str) -> tfs.ModelSpec:
    answer = tfs.ModelSpec(name=spec.name, signature_name=signature)
    answer.version.value = model.version
    return answer


async def predict(
    plane: DataPlane, request: tfs.PredictRequest
) -> tuple[tfs.PredictResponse, OnnxModel]:
    """Run the serving_default signature on the request's input tensors.

    Raises:
        SignatureNotFoundError: another signature_name.
        InvalidInputError: bad tensors or an unknown name in output_filter.
        ModelNotFoundError, ModelNotReadyError: as the data plane's.
    """
    spec = request.model_spec
    signature = spec.signature_name or SIGNATURE
    if signature != SIGNATURE:
        raise SignatureNotFoundError(
            f'Serving signature key "{signature}" not found; this model has "{SIGNATURE}"'
        )
    ref = model_ref(spec)
    inputs = {key: from_tensor_proto(key, tensor) for key, tensor in request.inputs.items()}
    result = await plane.infer(InferRequest(ref, inputs, tuple(request.output_filter)))
    response = tfs.PredictResponse(model_spec=_answer_spec(spec, result.model, SIGNATURE))
    for key, value in result.outputs.items():
        response.outputs[key].CopyFrom(to_tensor_proto(value))
    return response, result.model


def get_model_metadata(
    plane: DataPlane, request: tfs.GetModelMetadataRequest
) -> tuple[tfs.GetModelMetadataResponse, OnnxModel]:
    """The signature_def metadata, packed as TF Serving packs it.

    Raises:
        InvalidInputError: no metadata_field, or one other than signature_def.
    """
    fields = list(request.metadata_field)
    if not fields:
        raise InvalidInputError(
            "GetModelMetadataRequest must specify at least one metadata_field: signature_def"
        )
    for field in fields:
        if field != "signature_def":
            raise InvalidInputError(
                f"metadata field {field!r} is not supported; only signature_def is"
            )
    model = plane.model(model_ref(request.model_spec))
    signatures = tfs.SignatureDefMap()
    signature = signatures.signature_def[SIGNATURE]
    signature.method_name = PREDICT_METHOD
    for spec in model.inputs:
        signature.inputs[spec.name].CopyFrom(_tensor_info(spec, f"{SIGNATURE}_{spec.name}:0"))
    for spec in model.outputs:
        signature.outputs[spec.name].CopyFrom(_tensor_info(spec, f"{spec.name}:0"))
    response = tfs.GetModelMetadataResponse(model_spec=_answer_spec(request.model_spec, model, ""))
    packed = response.metadata["signature_def"]
    packed.type_url = SIGNATURE_DEF_MAP_URL
    packed.value = signatures.SerializeToString()
    return response, model


def _tensor_info(spec: TensorSpec, name: str) -> tf.TensorInfo:
    info = tf.TensorInfo(name=name, dtype=TF_DTYPE_BY_DATATYPE.get(spec.datatype, tf.DT_INVALID))
    info.tensor_shape.dim.extend(tf.TensorShapeProto.Dim(size=d) for d in spec.shape)
    return info


def get_model_status(
    plane: DataPlane, request: tfs.GetModelStatusRequest
) -> tfs.GetModelStatusResponse:
    """Loaded versions as AVAILABLE, refused ones as END with the reason."""
    rows = plane.status(model_ref(request.model_spec))
    response = tfs.GetModelStatusResponse()
    for row in rows:
        status = tfs.StatusProto(
            error_code=tfs.UNKNOWN if row.error else tfs.OK, error_message=row.error
        )
        response.model_version_status.add(
            version=row.version,
            state=_STATES.get(row.state, tfs.ModelVersionStatus.UNKNOWN),
            status=status,
        )
    return response


async def reload_config(
    plane: DataPlane, request: tfs.ReloadConfigRequest, root: Path
) -> tfs.ReloadConfigResponse:
    """Apply a new ModelServerConfig through the same reader as --model_config_file;
    answers once the new models' versions are loaded.
        root: where relative base paths point.

    Raises:
        ConfigurationError: the config is not servable (nothing is changed).
        BasePathMissingError: a base_path does not exist (nothing is changed).
    """
    configs = from_proto(request.config, root)
    missing = [str(c.base_path) for c in configs if not c.base_path.is_dir()]
    if missing:
        raise BasePathMissingError(
            f"base_path {missing} does not exist; export a version there first"
        )
    await plane.repository.apply(configs)
    return tfs.ReloadConfigResponse(status=tfs.StatusProto(error_code=tfs.OK))
