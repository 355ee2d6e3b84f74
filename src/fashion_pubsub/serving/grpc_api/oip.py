"""The Open Inference Protocol's GRPCInferenceService as calls on the data plane:
health, metadata and ModelInfer with typed contents or raw bytes.

Every handler takes `plane`, the data plane REST shares, and `request`, the parsed
request message, and answers with the response message.
"""

from fashion_pubsub.serving.dataplane import DataPlane, InferRequest, ModelRef
from fashion_pubsub.serving.errors import InvalidInputError, ModelNotFoundError
from fashion_pubsub.serving.grpc_api.tensors import from_infer_input, set_infer_output
from fashion_pubsub.serving.protos import inference_pb2 as oip
from fashion_pubsub.serving.runtime import DATATYPES_BY_NUMPY, OnnxModel


def _version(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInputError(f"model_version {text!r} must be a version number or empty")
    return int(text)


def server_metadata(plane: DataPlane) -> oip.ServerMetadataResponse:
    """The server's name and version; no extensions (binary_tensor_data is REST's)."""
    meta = plane.server_metadata()
    return oip.ServerMetadataResponse(name=meta.name, version=meta.version, extensions=[])


def model_ready(plane: DataPlane, request: oip.ModelReadyRequest) -> oip.ModelReadyResponse:
    """Ready when the named version (or any version) is loaded; not ready for unknown
    models, as Triton answers, so that clients can poll it before a model exists."""
    try:
        ready = plane.model_ready(ModelRef(request.name, _version(request.version)))
    except ModelNotFoundError:
        ready = False
    return oip.ModelReadyResponse(ready=ready)


def model_metadata(
    plane: DataPlane, request: oip.ModelMetadataRequest
) -> oip.ModelMetadataResponse:
    """Name, loaded versions, platform and tensors of the named version (or the latest)."""
    meta = plane.metadata(ModelRef(request.name, _version(request.version)))
    response = oip.ModelMetadataResponse(
        name=meta.name, versions=[str(v) for v in meta.versions], platform=meta.platform
    )
    for specs, entries in ((meta.inputs, response.inputs), (meta.outputs, response.outputs)):
        for spec in specs:
            entries.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
    return response


async def model_infer(
    plane: DataPlane, request: oip.ModelInferRequest
) -> tuple[oip.ModelInferResponse, OnnxModel]:
    """Run the model. Outputs come back as raw bytes when the inputs came raw (what
    tritonclient expects), else as typed contents.

    Raises:
        InvalidInputError: bad tensors, raw contents that do not match the inputs, or an
            unknown requested output.
        ModelNotFoundError, ModelNotReadyError: as the data plane's.
    """
    ref = ModelRef(request.model_name, _version(request.model_version))
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
    requested = tuple(output.name for output in request.outputs)
    result = await plane.infer(InferRequest(ref, inputs, requested))
    response = oip.ModelInferResponse(
        model_name=request.model_name, model_version=str(result.version), id=request.id
    )
    raw_outputs: list[bytes] | None = [] if raw else None
    for name in requested or tuple(result.outputs):
        array = result.outputs[name]
        tensor = response.outputs.add(name=name, datatype=DATATYPES_BY_NUMPY[array.dtype])
        set_infer_output(tensor, array, raw_outputs)
    if raw_outputs is not None:
        response.raw_output_contents.extend(raw_outputs)
    return response, result.model
