"""Helpers and fixtures for the model server tests (unit and integration serving conftests
re-export the fixtures): a small ONNX model with the trainer's signature
(`images` float32 [N,28,28,1] raw pixels -> `probabilities` [N,10]), exported into tmp
folders the way the trainer does it, and the app running in-process with its lifespan."""

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.serving.app import build_app
from fashion_pubsub.settings import ServerSettings
from tests.conftest import free_port

MODEL = "fashion-model"


def tiny_onnx_model(seed: int) -> bytes:
    """Reshape -> scale -> MatMul -> Add -> Softmax, with the trainer's names and shapes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 0.05, (784, 10)).astype(np.float32)
    bias = rng.normal(0, 0.1, (10,)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["images", "flat_shape"], ["flat"]),
            helper.make_node("Mul", ["flat", "scale"], ["scaled"]),
            helper.make_node("MatMul", ["scaled", "weights"], ["logits0"]),
            helper.make_node("Add", ["logits0", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        [
            numpy_helper.from_array(np.array([-1, 784], dtype=np.int64), "flat_shape"),
            numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "scale"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def export_version(
    base: Path, version: int, seed: int | None = None, metadata: bool = True
) -> Path:
    """Write a version into a hidden folder, then rename it into place (atomic)."""
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".tmp-{version}-{uuid.uuid4().hex[:6]}"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(tiny_onnx_model(version if seed is None else seed))
    if metadata:
        (staging / "metadata.json").write_text(
            json.dumps(
                {
                    "name": MODEL,
                    "version": version,
                    "classes": list(CLASS_NAMES),
                    "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28, 1]}],
                    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}],
                }
            )
        )
    (staging / "metrics.json").write_text("{}")
    target = base / str(version)
    os.rename(staging, target)
    return target


def expected_probabilities(version: int, images: np.ndarray) -> np.ndarray:
    """What version `version` of the tiny model answers, computed with numpy."""
    rng = np.random.default_rng(version)
    weights = rng.normal(0, 0.05, (784, 10)).astype(np.float32)
    bias = rng.normal(0, 0.1, (10,)).astype(np.float32)
    logits = images.reshape(len(images), 784).astype(np.float32) / 255 @ weights + bias
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


@pytest.fixture
def model_base(tmp_path: Path) -> Path:
    base = tmp_path / "models" / MODEL
    export_version(base, 1)
    return base


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _WithState:
    """Passes lifespan state into every request scope, as servers do."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(self.state)}
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def running_app(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Run the ASGI lifespan around an httpx client on ASGITransport."""
    state: dict[str, Any] = {}
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def lifespan() -> None:
        scope = {"type": "lifespan", "state": state, "asgi": {"version": "3.0"}}
        await app(scope, app_inbox.receive, app_outbox.send)  # type: ignore[arg-type]

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
        group.start_soon(lifespan)
        await to_app.send({"type": "lifespan.startup"})
        message = await from_app.receive()
        assert message["type"] == "lifespan.startup.complete", message
        transport = httpx.ASGITransport(app=_WithState(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


def server_settings(base: Path, **extra: Any) -> ServerSettings:
    extra.setdefault("grpc_port", 0)  # tests that want gRPC pick a free port
    return ServerSettings(
        model_name=MODEL, model_base_path=base, file_system_poll_wait_seconds=0.1, **extra
    )


@contextlib.contextmanager
def serve_in_thread(settings: ServerSettings) -> Iterator[str]:
    """uvicorn on 127.0.0.1 and a free port in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        build_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def copy_committed_model(repo_base: Path, target: Path) -> bool:
    """Copy models/fashion-model/<latest>/ into `target` if the trainer committed one."""
    versions = sorted(int(p.name) for p in repo_base.glob("*") if p.name.isdigit())
    if not versions or not (repo_base / str(versions[-1]) / "model.onnx").is_file():
        return False
    shutil.copytree(
        repo_base / str(versions[-1]),
        target / "1",
        ignore=shutil.ignore_patterns("saved_model*", "variables", "*.pb"),
    )
    return True
