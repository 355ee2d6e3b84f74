"""--rest_api_num_threads bounds the worker threads running inferences, whether the
data plane batches requests or not (before, each batcher took threads of its own)."""

import threading
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from fashion_pubsub.serving.dataplane import DataPlane, InferRequest, ModelRef
from fashion_pubsub.serving.model_config import model_configs
from fashion_pubsub.serving.repository import ModelRepository
from fashion_pubsub.serving.runtime import OnnxModel
from tests.support.serving import (
    MODEL,
    export_version,
    server_settings,
)

pytestmark = pytest.mark.anyio


class _Peak:
    """Counts inferences running at once, each made long enough to overlap."""

    def __init__(self) -> None:
        self.running = self.peak = 0
        self._lock = threading.Lock()

    def load(self, folder: Path, version: int) -> OnnxModel:
        model = OnnxModel(folder, version)
        predict = model.predict

        def watched(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                time.sleep(0.05)
                return predict(inputs)
            finally:
                with self._lock:
                    self.running -= 1

        model.predict = watched  # type: ignore[method-assign]
        return model


@pytest.mark.parametrize("batching", [(16, 0.0), None])
async def test_inferences_on_two_versions_share_one_thread(tmp_path: Path, batching: Any) -> None:
    base = tmp_path / "m"
    for version in (1, 2):
        export_version(base, version)
    peak = _Peak()
    settings = server_settings(base, model_version_policy="all")
    repository = ModelRepository(model_configs(settings), loader=peak.load)
    await repository.poll()
    plane = DataPlane(repository, threads=1, batching=batching)
    # large enough to leave the event loop when not batching
    images = np.zeros((32, 28, 28, 1), np.float32)
    async with anyio.create_task_group() as group:
        for version in (1, 2) * 4:
            request = InferRequest(ModelRef(MODEL, version), {"images": images})
            group.start_soon(plane.infer, request)
    assert peak.peak == 1


async def _peak_of_eight_requests(
    tmp_path: Path, threads: int, max_batch_size: int, rows: int
) -> int:
    """Most inferences running at once while eight requests of `rows` images each hit
    one version, with batching on."""
    base = tmp_path / "m"
    export_version(base, 1)
    peak = _Peak()
    repository = ModelRepository(model_configs(server_settings(base)), loader=peak.load)
    await repository.poll()
    plane = DataPlane(repository, threads=threads, batching=(max_batch_size, 0.0))
    images = np.zeros((rows, 28, 28, 1), np.float32)
    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(plane.infer, InferRequest(ModelRef(MODEL, 1), {"images": images}))
    return peak.peak


async def test_one_version_runs_as_many_merged_inferences_at_once_as_there_are_threads(
    tmp_path: Path,
) -> None:
    # One merged inference at a time left a core idle while the event loop answered and
    # parsed requests: batch-64 binary V2 ran at ~13,600 images/s, 35-40 % below this.
    assert await _peak_of_eight_requests(tmp_path, threads=2, max_batch_size=64, rows=64) == 2


async def test_small_requests_wait_for_the_running_inference_and_run_merged(
    tmp_path: Path,
) -> None:
    peak = await _peak_of_eight_requests(tmp_path, threads=4, max_batch_size=256, rows=1)
    assert peak == 1, "batch-1 requests should be merged, not run side by side"


@pytest.mark.parametrize(("rows", "on_the_loop"), [(1, True), (16, True), (17, False)])
async def test_with_batching_a_small_inference_runs_on_the_event_loop(
    tmp_path: Path, rows: int, on_the_loop: bool
) -> None:
    """Handing a few images to a worker thread cost more than running them (a third of
    the server's CPU per 1-image request beyond the inference itself)."""
    base = tmp_path / "m"
    export_version(base, 1)
    threads: list[threading.Thread] = []

    def load(folder: Path, version: int) -> OnnxModel:
        model = OnnxModel(folder, version)
        predict = model.predict

        def watched(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            threads.append(threading.current_thread())
            return predict(inputs)

        model.predict = watched  # type: ignore[method-assign]
        return model

    repository = ModelRepository(model_configs(server_settings(base)), loader=load)
    await repository.poll()
    plane = DataPlane(repository, threads=1, batching=(256, 0.0))
    images = np.zeros((rows, 28, 28, 1), np.float32)
    await plane.infer(InferRequest(ModelRef(MODEL, 1), {"images": images}))
    assert (threads == [threading.current_thread()]) is on_the_loop
