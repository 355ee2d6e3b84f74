"""The dashboard's web app: the page, its script and style, a server-sent event stream of
snapshots (one per interval), the latest snapshot as JSON, and the gallery's images.

One background task collects the snapshot (in a worker thread: scraping and reading the
topics block) and every open page receives the same one.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from fashion_pubsub.dashboard.monitor import Monitor
from fashion_pubsub.settings import DashboardSettings

logger = logging.getLogger(__name__)
_ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}


class _Snapshots:
    """The latest snapshot and a way to wait for the next one."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] = {}
        self.number = 0
        self._changed = asyncio.Condition()

    async def publish(self, snapshot: dict[str, Any]) -> None:
        async with self._changed:
            self.latest, self.number = snapshot, self.number + 1
            self._changed.notify_all()

    async def after(self, number: int) -> tuple[int, dict[str, Any]]:
        async with self._changed:
            await self._changed.wait_for(lambda: self.number > number)
            return self.number, self.latest


def build_app(settings: DashboardSettings, monitor: Callable[[], Monitor]) -> Starlette:
    """The dashboard app; `monitor` builds the collector when the app starts.

    Args:
        settings: interval and the images folder.
        monitor: creates the Monitor (with its feeds) in the lifespan; closed on shutdown.
    """
    snapshots = _Snapshots()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector = monitor()
        task = asyncio.create_task(_collect(collector, snapshots, settings.interval_seconds))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(collector.close)

    async def page(request: Request) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            raise HTTPException(404)
        return Response(_asset(name), media_type=_ASSETS[name])

    async def snapshot(request: Request) -> Response:
        return JSONResponse(snapshots.latest)

    async def events(request: Request) -> Response:
        return StreamingResponse(_stream(snapshots), media_type="text/event-stream")

    async def image(request: Request) -> Response:
        return FileResponse(_image_path(settings.images_dir, request.path_params["name"]))

    return Starlette(
        routes=[
            Route("/", page),
            Route("/static/{name}", asset),
            Route("/api/snapshot", snapshot),
            Route("/events", events),
            Route("/images/{name}", image),
        ],
        lifespan=lifespan,
    )


async def _collect(collector: Monitor, snapshots: _Snapshots, interval: float) -> None:
    while True:
        try:
            await snapshots.publish(await asyncio.to_thread(collector.collect))
        except Exception:  # noqa: BLE001 - the page must keep updating; logged with traceback
            logger.exception("snapshot_failed")
        await asyncio.sleep(interval)


async def _stream(snapshots: _Snapshots) -> AsyncIterator[bytes]:
    number = 0
    while True:
        number, snapshot = await snapshots.after(number)
        yield b"data: " + orjson.dumps(snapshot) + b"\n\n"


def _asset(name: str) -> bytes:
    return resources.files("fashion_pubsub.dashboard").joinpath("static", name).read_bytes()


def _image_path(folder: Path | None, name: str) -> Path:
    """A PNG directly inside the images folder, never a path out of it."""
    if folder is None or "/" in name or name.startswith(".") or not name.endswith(".png"):
        raise HTTPException(404)
    path = folder / name
    if not path.is_file():
        raise HTTPException(404)
    return path
