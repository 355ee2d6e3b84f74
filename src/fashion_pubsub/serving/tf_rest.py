"""TensorFlow Serving's REST API (v1): model status, metadata, and predict in row
(`instances`) and columnar (`inputs`) formats. Converts HTTP to data-plane calls."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from fashion_pubsub.serving.dataplane import DataPlane, as_array
from fashion_pubsub.serving.errors import InvalidInputError, ModelNotFoundError
from fashion_pubsub.serving.fast_json import InstancesParser
from fashion_pubsub.serving.http_io import json_response, read_body
from fashion_pubsub.serving.runtime import OnnxModel, TensorSpec

_DTYPES = {
    "FP32": "DT_FLOAT",
    "FP64": "DT_DOUBLE",
    "FP16": "DT_HALF",
    "UINT8": "DT_UINT8",
    "INT8": "DT_INT8",
    "INT16": "DT_INT16",
    "INT32": "DT_INT32",
    "INT64": "DT_INT64",
    "BOOL": "DT_BOOL",
}
SIGNATURE = "serving_default"


@dataclass(frozen=True)
class ModelPath:
    """What `/v1/models/<rest>` names: model, optional version or label, and a verb."""

    name: str
    version: int | None = None
    label: str | None = None
    verb: str | None = None  # "predict", "classify", "regress"
    metadata: bool = False

    @classmethod
    def parse(cls, rest: str) -> "ModelPath":
        rest, _, verb = rest.partition(":")
        parts = rest.split("/")
        metadata = parts[-1] == "metadata" and len(parts) in (2, 4)
        if metadata:
            parts = parts[:-1]
        if len(parts) == 1 and parts[0]:
            return cls(parts[0], verb=verb or None, metadata=metadata)
        if len(parts) == 3 and parts[1] == "versions" and parts[2].isdigit():
            return cls(parts[0], version=int(parts[2]), verb=verb or None, metadata=metadata)
        if len(parts) == 3 and parts[1] == "labels" and parts[2]:
            return cls(parts[0], label=parts[2], verb=verb or None, metadata=metadata)
        raise ModelNotFoundError(f"no such resource: /v1/models/{rest}")


async def handle(
    request: Request, plane: DataPlane, limit: int
) -> tuple[Response, OnnxModel | None]:
    """Serve one /v1/models/... request; returns the response and the model that ran."""
    path = ModelPath.parse(request.path_params["rest"])
    if request.method == "GET" and path.verb is None:
        if path.metadata:
            model = plane.model(path.name, path.version, path.label)
            return json_response(metadata(path.name, model)), model
        return json_response(status(plane, path)), None
    if request.method == "POST" and path.verb == "predict" and not path.metadata:
        model = plane.model(path.name, path.version, path.label)
        body = await read_body(request, limit)
        parser = getattr(request.state, "instances_parser", None)
        return json_response(await predict(plane, path.name, model, body, parser)), model
    if path.verb in ("classify", "regress"):
        raise InvalidInputError(
            f"{path.verb} needs a {path.verb} signature; this model has "
            "only a predict signature: use :predict"
        )
    raise ModelNotFoundError(f"no such resource: {request.method} {request.url.path}")


def status(plane: DataPlane, path: ModelPath) -> dict[str, Any]:
    statuses = plane.status(path.name, path.version, path.label)
    return {
        "model_version_status": [
            {
                "version": str(s.version),
                "state": s.state,
                "status": {
                    "error_code": "OK" if not s.error else "UNKNOWN",
                    "error_message": s.error,
                },
            }
            for s in statuses
        ]
    }


def metadata(name: str, model: OnnxModel) -> dict[str, Any]:
    def tensor(spec: TensorSpec, kind: str) -> dict[str, Any]:
        return {
            "dtype": _DTYPES.get(spec.datatype, "DT_INVALID"),
            "tensor_shape": {
                "dim": [{"size": str(d), "name": ""} for d in spec.shape],
                "unknown_rank": False,
            },
            "name": f"{SIGNATURE}_{spec.name}:0" if kind == "input" else f"{spec.name}:0",
        }

    signature = {
        "inputs": {s.name: tensor(s, "input") for s in model.inputs},
        "outputs": {s.name: tensor(s, "output") for s in model.outputs},
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


async def predict(
    plane: DataPlane,
    name: str,
    model: OnnxModel,
    body: bytes,
    parser: InstancesParser | None = None,
) -> dict[str, Any]:
    """Row format answers {"predictions": ...}, columnar format {"outputs": ...}.

    Args:
        parser: the fast path for plain {"instances": [...]} bodies, if any.
    """
    names = [s.name for s in model.inputs]
    skeleton = None
    if parser is not None and len(names) == 1:
        fast, skeleton = parser.parse(body)
        if fast is not None:
            result = await plane.infer(name, model, {names[0]: fast})
            return {"predictions": _row_outputs(result.outputs)}
    request = _parse(body)
    signature = request.get("signature_name") or SIGNATURE
    if signature != SIGNATURE:
        raise InvalidInputError(f"signature {signature!r} not found; this model has {SIGNATURE!r}")
    if "instances" in request and "inputs" in request:
        raise InvalidInputError(
            'send either "instances" (row format) or "inputs" (columnar), not both'
        )
    if "instances" in request:
        rows = _rows(request["instances"], names)
        if len(rows) == 1:
            rows = {key: as_array(key, value) for key, value in rows.items()}
        result = await plane.infer(name, model, rows)
        if parser is not None and skeleton is not None and set(request) == {"instances"}:
            parser.learn(skeleton, rows[names[0]])
        return {"predictions": _row_outputs(result.outputs)}
    if "inputs" in request:
        inputs = request["inputs"]
        named = inputs if isinstance(inputs, dict) else {names[0]: inputs}
        outputs = (await plane.infer(name, model, named)).outputs
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}
    raise InvalidInputError('the request needs "instances" (row format) or "inputs" (columnar)')


def _parse(body: bytes) -> dict[str, Any]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise InvalidInputError("the body must be a JSON object")
    return request


def _rows(instances: Any, names: list[str]) -> dict[str, Any]:
    if not isinstance(instances, list) or not instances:
        raise InvalidInputError('"instances" must be a non-empty list')
    if isinstance(instances[0], dict):
        try:
            return {n: [row[n] for row in instances] for n in names}
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"every instance needs the inputs {names}") from exc
    return {names[0]: instances}


def _row_outputs(outputs: dict[str, np.ndarray]) -> Any:
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    count = len(next(iter(outputs.values())))
    return [{k: v[i] for k, v in outputs.items()} for i in range(count)]
