"""Helpers and fixtures for the model server tests (unit and integration serving conftests
re-export the fixtures): the tiny ONNX model of fashion_pubsub.model.tiny exported into tmp
folders, and the app running in-process with its lifespan."""

import contextlib
import shutil
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from fashion_pubsub.model.tiny import MODEL as MODEL
from fashion_pubsub.model.tiny import expected_probabilities as expected_probabilities
from fashion_pubsub.model.tiny import export_version as export_version
from fashion_pubsub.model.tiny import tiny_onnx_model as tiny_onnx_model
from fashion_pubsub.serving.app import build_app
from fashion_pubsub.serving.http_server import server_config
from fashion_pubsub.settings import ServerSettings
from tests.conftest import free_port


def labelled_model_config(name: str) -> str:
    """A ModelServerConfig `config` entry (text format): versions 1 and 2 of `name`, from
    the folder of that name, labelled `stable` and `canary`."""
    return f"""
  config {{
    name: "{name}"
    base_path: "{name}"
    model_version_policy {{ specific {{ versions: [1, 2] }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}"""


@pytest.fixture
def model_base(tmp_path: Path) -> Path:
    base = tmp_path / "models" / MODEL
    export_version(base, 1)
    return base


@pytest.fixture
async def client(model_base: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with default settings on `model_base`, in-process (a test module may
    define its own `client` with other settings)."""
    async with running_app(build_app(server_settings(model_base))) as client:
        yield client


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


def labelled_settings(tmp_path: Path, versions: tuple[int, ...] = (1, 2)) -> ServerSettings:
    """Settings serving `versions` of the tiny model from tmp_path/m through a config file
    that keeps every version and labels version 1 `stable`."""
    base = tmp_path / "m"
    base.mkdir(parents=True, exist_ok=True)
    for version in versions:
        export_version(base, version)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "m" '
        "model_version_policy { all {} } "
        'version_labels { key: "stable" value: 1 } }}'
    )
    return server_settings(base, model_config_file=config)


@contextlib.contextmanager
def serve_in_thread(settings: ServerSettings) -> Iterator[str]:
    """The app of `settings` on 127.0.0.1 and a free port in a thread; yields the base URL."""
    # the configuration `serve` runs (limits, header deadline), on a free local port
    config = server_config(build_app(settings), settings, host="127.0.0.1", port=free_port())
    with uvicorn_in_thread(config) as url:
        yield url


@contextlib.contextmanager
def uvicorn_in_thread(config: uvicorn.Config) -> Iterator[str]:
    """uvicorn with `config` in a thread until the block ends; yields the base URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{config.host}:{config.port}"
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
