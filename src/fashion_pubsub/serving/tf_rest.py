"""TensorFlow Serving's REST API (v1): model status, metadata, and predict in row
(`instances`) and columnar (`inputs`) formats. Converts HTTP to data-plane calls and
back; refusals propagate as ServingError and app.py turns them into statuses."""

from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fashion_pubsub.serving.dataplane import (
    DataPlane,
    InferRequest,
    ModelMetadata,
    ModelRef,
    VersionStatus,
    as_array,
)
from fashion_pubsub.serving.errors import InvalidInputError
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


def routes() -> list[Route]:
    """One route per path and method, as kserve registers its endpoints; the router
    parses the URL. A name is any segment, so `{name}:predict` matches `m:predict` with
    name "m" by backtracking; the status route (GET only) also matches that path, but
    only partially for a POST, and Starlette prefers the full match."""
    table: list[Route] = []
    for prefix in (
        "/v1/models/{name}",
        "/v1/models/{name}/versions/{version:int}",
        "/v1/models/{name}/labels/{label}",
    ):
        table += [
            Route(prefix, status, methods=["GET"], name="tf_rest.status"),
            Route(prefix + "/metadata", metadata, methods=["GET"], name="tf_rest.metadata"),
            Route(prefix + ":predict", predict, methods=["POST"], name="tf_rest.predict"),
        ]
        table += [
            Route(f"{prefix}:{verb}", _refuse(verb), methods=["POST"], name=f"tf_rest.{verb}")
            for verb in ("classify", "regress")
        ]
    return table


def model_ref(request: Request) -> ModelRef:
    """The model, version or label the route's path parameters name."""
    params = request.path_params
    return ModelRef(params["name"], params.get("version"), params.get("label"))


async def status(request: Request) -> Response:
    """GET /v1/models/{name}[/versions/{v}|/labels/{l}]: model_version_status."""
    plane: DataPlane = request.state.plane
    return json_response(status_body(plane.status(model_ref(request))))


async def metadata(request: Request) -> Response:
    """GET .../metadata: the version's signature_def."""
    plane: DataPlane = request.state.plane
    return json_response(metadata_body(plane.metadata(model_ref(request))))


async def predict(request: Request) -> Response:
    """POST ...:predict in row or columnar format."""
    plane: DataPlane = request.state.plane
    ref = model_ref(request)
    model = plane.model(ref)  # an unknown model is a 404 before the body is read
    body = await read_body(request, request.state.body_limits)
    parser: InstancesParser | None = request.state.instances_parser
    return json_response(await predict_body(plane, ref, model, body, parser))


def _refuse(verb: str) -> Callable[[Request], Awaitable[Response]]:
    async def refuse(request: Request) -> Response:
        raise InvalidInputError(
            f"{verb} needs a {verb} signature; this model has only a predict signature: "
            "use :predict"
        )

    return refuse


def status_body(statuses: list[VersionStatus]) -> dict[str, Any]:
    """TF Serving's GetModelStatusResponse as JSON."""
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


def metadata_body(meta: ModelMetadata) -> dict[str, Any]:
    """TF Serving's GetModelMetadataResponse (signature_def) as JSON."""

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
        "inputs": {s.name: tensor(s, "input") for s in meta.inputs},
        "outputs": {s.name: tensor(s, "output") for s in meta.outputs},
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": meta.name, "signature_name": "", "version": str(meta.version)},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


async def predict_body(
    plane: DataPlane,
    ref: ModelRef,
    model: OnnxModel,
    body: bytes,
    parser: InstancesParser | None = None,
) -> dict[str, Any]:
    """Row format answers {"predictions": ...}, columnar format {"outputs": ...}.

    Args:
        plane: runs the inference.
        ref: the model the URL names.
        model: the version it resolved to, whose input names map rows to inputs.
        body: the request body.
        parser: the fast path for plain {"instances": [...]} bodies, if any.
    """
    names = [s.name for s in model.inputs]
    skeleton = None
    if parser is not None and len(names) == 1:
        fast, skeleton = parser.parse(body)
        if fast is not None:
            result = await plane.infer(InferRequest(ref, {names[0]: fast}))
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
        result = await plane.infer(InferRequest(ref, rows))
        if parser is not None and skeleton is not None and set(request) == {"instances"}:
            parser.learn(skeleton, rows[names[0]])
        return {"predictions": _row_outputs(result.outputs)}
    if "inputs" in request:
        inputs = request["inputs"]
        named = inputs if isinstance(inputs, dict) else {names[0]: inputs}
        outputs = (await plane.infer(InferRequest(ref, named))).outputs
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
