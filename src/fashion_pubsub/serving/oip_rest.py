"""The Open Inference Protocol (KServe V2) over REST, with the binary tensor data
extension: a JSON header of `Inference-Header-Content-Length` bytes, then raw tensors."""

from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from fashion_pubsub import __version__
from fashion_pubsub.serving.dataplane import DataPlane, InferResult
from fashion_pubsub.serving.errors import InvalidInputError, ModelNotFoundError
from fashion_pubsub.serving.http_io import dump_json, json_response, read_body
from fashion_pubsub.serving.runtime import NUMPY_DTYPES, OnnxModel

HEADER_LENGTH = "inference-header-content-length"
SERVER_NAME = "fashion-pubsub"
_DATATYPES = tuple(NUMPY_DTYPES)


def server_metadata() -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": ["binary_tensor_data"]}


def model_metadata(name: str, plane: DataPlane, model: OnnxModel) -> dict[str, Any]:
    return {
        "name": name,
        "versions": [str(v) for v in plane.versions(name)],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in model.inputs
        ],
        "outputs": [
            {"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in model.outputs
        ],
    }


async def handle(
    request: Request, plane: DataPlane, limit: int
) -> tuple[Response, OnnxModel | None]:
    """Serve /v2/models/{name}[/versions/{v}][/ready|/infer]."""
    name, version, action = _parse_path(request.path_params["rest"])
    if request.method == "POST" and action == "infer":
        model = plane.model(name, version)
        return await infer(request, plane, name, model, limit), model
    if request.method == "GET" and action == "ready":
        model = plane.model(name, version)
        return json_response({"name": name, "ready": True}), model
    if request.method == "GET" and action == "":
        model = plane.model(name, version)
        return json_response(model_metadata(name, plane, model)), model
    raise ModelNotFoundError(f"no such resource: {request.method} {request.url.path}")


def _parse_path(rest: str) -> tuple[str, int | None, str]:
    parts = rest.split("/")
    action = parts.pop() if parts[-1] in ("ready", "infer") and len(parts) in (2, 4) else ""
    if len(parts) == 1 and parts[0]:
        return parts[0], None, action
    if len(parts) == 3 and parts[1] == "versions" and parts[2].isdigit():
        return parts[0], int(parts[2]), action
    raise ModelNotFoundError(f"no such resource: /v2/models/{rest}")


async def infer(
    request: Request, plane: DataPlane, name: str, model: OnnxModel, limit: int
) -> Response:
    """JSON tensors or the binary tensor data extension in; the same way out, per output."""
    body = await read_body(request, limit)
    header, binary = _split(body, request.headers.get(HEADER_LENGTH))
    inputs = _inputs(header, binary)
    result = await plane.infer(name, model, inputs)
    return _response(header, result, name)


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
        name, shape, datatype = tensor["name"], list(tensor["shape"]), tensor["datatype"]
    except (KeyError, TypeError) as exc:
        raise InvalidInputError("each input needs name, shape and datatype") from exc
    if datatype not in _DATATYPES:
        raise InvalidInputError(
            f"input {name!r}: datatype {datatype!r} is not supported; use one of {list(_DATATYPES)}"
        )
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidInputError(f"input {name!r}: shape {shape} must be non-negative integers")
    return str(name), shape, str(datatype)


def _params(entry: Any) -> dict[str, Any]:
    params = entry.get("parameters") if isinstance(entry, dict) else None
    return params if isinstance(params, dict) else {}


def _from_bytes(name: str, chunk: memoryview, shape: list[int], datatype: str) -> np.ndarray:
    dtype = NUMPY_DTYPES[datatype]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(chunk) != expected:
        raise InvalidInputError(
            f"input {name!r}: shape {shape} of {datatype} needs {expected} bytes, got {len(chunk)}"
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape)


def _from_json(name: str, data: Any, shape: list[int], datatype: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"input {name!r}: data must be numbers: {exc}") from exc
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"input {name!r}: data must be numbers, not {array.dtype}")
    if array.size != int(np.prod(shape)):
        raise InvalidInputError(f"input {name!r}: {array.size} values do not fill shape {shape}")
    if datatype == "UINT8" and array.size and (array.min() < 0 or array.max() > 255):
        raise InvalidInputError(f"input {name!r}: UINT8 values must be 0 to 255")
    return array.reshape(shape)


def _response(header: dict[str, Any], result: InferResult, name: str) -> Response:
    requested = header.get("outputs")
    requested = requested if isinstance(requested, list) else []
    wanted = {o.get("name"): o for o in requested if isinstance(o, dict)}
    unknown = set(wanted) - {spec.name for spec in result.model.outputs}
    if unknown:
        raise InvalidInputError(
            f"unknown output(s) {sorted(map(str, unknown))}; the model has "
            f"{[spec.name for spec in result.model.outputs]}"
        )
    all_binary = bool(_params(header).get("binary_data_output"))
    outputs, chunks = [], []
    for spec in result.model.outputs:
        if wanted and spec.name not in wanted:
            continue
        value = np.ascontiguousarray(result.outputs[spec.name])
        entry: dict[str, Any] = {
            "name": spec.name,
            "datatype": spec.datatype,
            "shape": list(value.shape),
        }
        binary = all_binary or bool(_params(wanted.get(spec.name)).get("binary_data"))
        if binary:
            entry["parameters"] = {"binary_data_size": value.nbytes}
            chunks.append(value.tobytes())
        else:
            entry["data"] = value.reshape(-1)
        outputs.append(entry)
    body = {"model_name": name, "model_version": str(result.model.version), "outputs": outputs}
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
