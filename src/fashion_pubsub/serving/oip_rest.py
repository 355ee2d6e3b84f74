"""The Open Inference Protocol (KServe V2) over REST, with the binary tensor data
extension: a JSON header of `Inference-Header-Content-Length` bytes, then raw tensors."""

import math
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fashion_pubsub.serving.dataplane import (
    InferRequest,
    InferResult,
    ModelMetadata,
    ModelRef,
)
from fashion_pubsub.serving.errors import InvalidInputError
from fashion_pubsub.serving.http_io import data_plane, dump_json, json_response, read_body
from fashion_pubsub.serving.runtime import MAX_VALUES, NUMPY_DTYPES, TensorSpec, shape_fits

HEADER_LENGTH = "inference-header-content-length"
EXTENSIONS = ["binary_tensor_data"]
# numpy allows 64 dimensions; no model here takes more than a handful.
MAX_RANK = 32
_DATATYPES = tuple(NUMPY_DTYPES)


def routes() -> list[Route]:
    """One route per path and method, as kserve registers its V2 endpoints."""
    table = [
        Route("/v2", server_metadata, methods=["GET"], name="oip_rest.server"),
        Route("/v2/health/live", live, methods=["GET"], name="oip_rest.live"),
        Route("/v2/health/ready", ready, methods=["GET"], name="oip_rest.ready"),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version:int}"):
        table += [
            Route(prefix, model_metadata, methods=["GET"], name="oip_rest.metadata"),
            Route(prefix + "/ready", model_ready, methods=["GET"], name="oip_rest.model_ready"),
            Route(prefix + "/infer", infer, methods=["POST"], name="oip_rest.infer"),
        ]
    return table


def model_ref(request: Request) -> ModelRef:
    """The model and version the route's path parameters name."""
    params = request.path_params
    return ModelRef(params["name"], params.get("version"))


async def server_metadata(request: Request) -> Response:
    """GET /v2: name, version and the extensions this server speaks."""
    plane = data_plane(request)
    meta = plane.server_metadata()
    return json_response({"name": meta.name, "version": meta.version, "extensions": EXTENSIONS})


async def live(request: Request) -> Response:
    """GET /v2/health/live: the process answers."""
    plane = data_plane(request)
    return json_response({"live": plane.live()})


async def ready(request: Request) -> Response:
    """GET /v2/health/ready: 200 once every model has a loaded version, else 503."""
    plane = data_plane(request)
    is_ready = plane.ready()
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


async def model_metadata(request: Request) -> Response:
    """GET /v2/models/{name}[/versions/{v}]: the version's signature."""
    return json_response(metadata_body(data_plane(request).metadata(model_ref(request))))


async def model_ready(request: Request) -> Response:
    """GET .../ready: 200 when the version is loaded; 503 while nothing is, 404 if unknown."""
    plane = data_plane(request)
    ref = model_ref(request)
    plane.model(ref)
    return json_response({"name": ref.name, "ready": True})


async def infer(request: Request) -> Response:
    """POST .../infer: JSON tensors or the binary tensor data extension in; each output
    goes out the way the request asks for it."""
    plane = data_plane(request)
    ref = model_ref(request)
    plane.model(ref)  # an unknown model is a 404 before the body is read
    body = await read_body(request, request.state.body_limits)
    header, binary = _split(body, request.headers.get(HEADER_LENGTH))
    wanted = _wanted_outputs(header)
    result = await plane.infer(InferRequest(ref, _inputs(header, binary), tuple(wanted)))
    return _response(header, wanted, result)


def metadata_body(meta: ModelMetadata) -> dict[str, Any]:
    """The V2 model metadata response."""
    return {
        "name": meta.name,
        "versions": [str(v) for v in meta.versions],
        "platform": meta.platform,
        "inputs": [_tensor_metadata(s) for s in meta.inputs],
        "outputs": [_tensor_metadata(s) for s in meta.outputs],
    }


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def _split(body: bytes, header_length: str | None) -> tuple[dict[str, Any], memoryview]:
    view = memoryview(body)  # slices without copying the tensors
    if header_length is None:
        json_part, binary = view, view[:0]
    else:
        try:
            length = int(header_length)
        except ValueError as exc:
            raise InvalidInputError(f"{HEADER_LENGTH} must be an integer") from exc
        if not 0 < length <= len(body):
            raise InvalidInputError(
                f"{HEADER_LENGTH} {length} does not fit a body of {len(body)} bytes"
            )
        json_part, binary = view[:length], view[length:]
    try:
        header = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the inference request is not valid JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InvalidInputError('the inference request needs an "inputs" list')
    return header, binary


def _inputs(header: dict[str, Any], binary: memoryview) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    view = binary
    for tensor in header["inputs"]:
        name, shape, datatype = _describe(tensor)
        if name in arrays:
            raise InvalidInputError(f"input {name!r} is given twice")
        size = _params(tensor).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidInputError(
                    f"input {name!r}: binary_data_size must be a non-negative integer"
                )
            chunk = view[offset : offset + size]
            offset += size
            arrays[name] = _from_bytes(name, chunk, shape, datatype)
        elif "data" in tensor:
            arrays[name] = _from_json(name, tensor["data"], shape, datatype)
        else:
            raise InvalidInputError(f"input {name!r} has neither data nor binary_data_size")
    if offset != len(binary):
        raise InvalidInputError(f"{len(binary) - offset} bytes of binary data belong to no input")
    return arrays


def _describe(tensor: Any) -> tuple[str, list[int], str]:
    try:
        name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    except (KeyError, TypeError) as exc:
        raise InvalidInputError("each input needs name, shape and datatype") from exc
    if not isinstance(name, str):
        raise InvalidInputError(f"an input name must be a string, not {_brief(name)}")
    if not isinstance(datatype, str) or datatype not in _DATATYPES:
        raise InvalidInputError(
            f"input {name!r}: datatype {_brief(datatype)} is not supported; "
            f"use one of {list(_DATATYPES)}"
        )
    _check_shape(name, shape)
    return name, shape, datatype


def _check_shape(name: str, shape: Any) -> None:
    """A shape is a short list of non-negative integers that numpy can make an array of
    with a sane element count (`shape_fits`)."""
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise InvalidInputError(
            f"input {name!r}: shape {_brief(shape)} must be a list of non-negative integers"
        )
    if len(shape) > MAX_RANK:
        raise InvalidInputError(
            f"input {name!r}: shape has {len(shape)} dimensions; at most {MAX_RANK}"
        )
    if not shape_fits(shape):
        raise InvalidInputError(
            f"input {name!r}: shape {_brief(shape)} holds more than {MAX_VALUES} values "
            "(a zero dimension counted as one); send smaller batches"
        )


def _brief(value: Any) -> str:
    """`value` for an error message, cut short: clients may send anything."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _params(entry: Any) -> dict[str, Any]:
    params = entry.get("parameters") if isinstance(entry, dict) else None
    return params if isinstance(params, dict) else {}


def _from_bytes(name: str, chunk: memoryview, shape: list[int], datatype: str) -> np.ndarray:
    dtype = NUMPY_DTYPES[datatype]
    expected = math.prod(shape) * dtype.itemsize
    if len(chunk) != expected:
        raise InvalidInputError(
            f"input {name!r}: shape {shape} of {datatype} needs {expected} bytes, got {len(chunk)}"
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape)


def _from_json(name: str, data: Any, shape: list[int], datatype: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInputError(f"input {name!r}: data must be numbers: {exc}") from exc
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"input {name!r}: data must be numbers, not {array.dtype}")
    if array.size != math.prod(shape):
        raise InvalidInputError(f"input {name!r}: {array.size} values do not fill shape {shape}")
    if datatype == "UINT8" and array.size and (array.min() < 0 or array.max() > 255):
        raise InvalidInputError(f"input {name!r}: UINT8 values must be 0 to 255")
    return array.reshape(shape)


def _wanted_outputs(header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The outputs the request asks for, by name ({} means all)."""
    requested = header.get("outputs", [])
    if not isinstance(requested, list):
        raise InvalidInputError('"outputs" must be a list of {"name": ...} objects')
    wanted: dict[str, dict[str, Any]] = {}
    for entry in requested:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise InvalidInputError(f"each requested output needs a name: {_brief(entry)}")
        wanted[name] = entry
    return wanted


def _response(
    header: dict[str, Any], wanted: dict[str, dict[str, Any]], result: InferResult
) -> Response:
    all_binary = bool(_params(header).get("binary_data_output"))
    outputs, chunks = [], []
    for spec in result.specs():
        value = np.ascontiguousarray(result.outputs[spec.name])
        entry: dict[str, Any] = {
            "name": spec.name,
            "datatype": spec.datatype,
            "shape": list(value.shape),
        }
        if all_binary or _params(wanted.get(spec.name)).get("binary_data"):
            entry["parameters"] = {"binary_data_size": value.nbytes}
            chunks.append(value.tobytes())
        else:
            entry["data"] = value.reshape(-1)
        outputs.append(entry)
    body = {"model_name": result.name, "model_version": str(result.version), "outputs": outputs}
    if "id" in header:
        body["id"] = header["id"]
    if not chunks:
        return json_response(body)
    json_part = dump_json(body)
    return Response(
        json_part + b"".join(chunks),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(json_part))},
    )
