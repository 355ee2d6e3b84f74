"""The Open Inference Protocol's GRPCInferenceService as calls on the data plane:
health, metadata and ModelInfer with typed contents or raw bytes."""

from fashion_pubsub import __version__
from fashion_pubsub.serving.dataplane import DataPlane
from fashion_pubsub.serving.errors import (
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
)
from fashion_pubsub.serving.grpc_api.tensors import from_infer_input, set_infer_output
from fashion_pubsub.serving.protos import inference_pb2 as oip
from fashion_pubsub.serving.runtime import DATATYPES_BY_NUMPY, OnnxModel

SERVER_NAME = "fashion-pubsub"
PLATFORM = "onnxruntime_onnx"


def _version(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInputError(f"model_version {text!r} must be a version number or empty")
    return int(text)


def server_metadata() -> oip.ServerMetadataResponse:
    return oip.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=[])


def model_ready(plane: DataPlane, request: oip.ModelReadyRequest) -> oip.ModelReadyResponse:
    """Ready when the named version (or any version) is loaded; false for unknown ones,
    as Triton answers."""
    try:
        plane.model(request.name, _version(request.version))
    except (ModelNotFoundError, ModelNotReadyError):
        return oip.ModelReadyResponse(ready=False)
    return oip.ModelReadyResponse(ready=True)


def model_metadata(
    plane: DataPlane, request: oip.ModelMetadataRequest
) -> tuple[oip.ModelMetadataResponse, OnnxModel]:
    model = plane.model(request.name, _version(request.version))
    response = oip.ModelMetadataResponse(
        name=request.name,
        versions=[str(v) for v in plane.versions(request.name)],
        platform=PLATFORM,
    )
    for specs, entries in ((model.inputs, response.inputs), (model.outputs, response.outputs)):
        for spec in specs:
            entries.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
    return response, model


async def model_infer(
    plane: DataPlane, request: oip.ModelInferRequest
) -> tuple[oip.ModelInferResponse, OnnxModel]:
    """Run the model. Outputs come back as raw bytes when the inputs came raw (what
    tritonclient expects), else as typed contents.

    Raises:
        InvalidInputError: bad tensors, raw contents that do not match the inputs, or an
            unknown requested output.
    """
    model = plane.model(request.model_name, _version(request.model_version))
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidInputError(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs; "
            "send one per input, or none"
        )
    inputs = {}
    for index, tensor in enumerate(request.inputs):
        if tensor.name in inputs:
            raise InvalidInputError(f"input {tensor.name!r} is given twice")
        inputs[tensor.name] = from_infer_input(tensor, raw[index] if raw else None)
    result = await plane.infer(request.model_name, model, inputs)
    requested = [output.name for output in request.outputs]
    unknown = sorted(set(requested) - set(result.outputs))
    if unknown:
        raise InvalidInputError(
            f"unknown output(s) {unknown}; the model has {sorted(result.outputs)}"
        )
    response = oip.ModelInferResponse(
        model_name=request.model_name, model_version=str(model.version), id=request.id
    )
    raw_outputs: list[bytes] | None = [] if raw else None
    for name in requested or list(result.outputs):
        array = result.outputs[name]
        tensor = response.outputs.add(name=name, datatype=DATATYPES_BY_NUMPY[array.dtype])
        set_infer_output(tensor, array, raw_outputs)
    if raw_outputs is not None:
        response.raw_output_contents.extend(raw_outputs)
    return response, model
