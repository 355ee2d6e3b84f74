"""Optional server-side dynamic batching (`--enable_batching`).

Requests for one model version queue up while batches run in worker threads; a free
worker takes everything queued (up to --max_batch_size images) as one inference and each
request gets its own rows back. Up to --rest_api_num_threads merged inferences run at
once (the data plane's limiter, shared with unbatched work), as TF Serving's
num_batch_threads allows, the second and later ones only for a queue of a quarter
batch: with one at a time, a core sat idle while the event loop answered and parsed
requests, and batch-64 binary V2 ran 30-40 % slower (~13,600 against ~19,000 images/s,
docs/serving.md). A batch waits at most --batch_timeout_micros for
company before it starts. A batch of at most 16 images runs on the event loop itself:
handing it to a thread costs more than it frees the loop for.
"""

import asyncio
from collections import deque
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import numpy as np

from fashion_pubsub.serving.runtime import OnnxModel

Tensors = dict[str, np.ndarray]
# Below this many input values a thread hop costs more than the inference it frees the
# event loop from (measured with bench/bench_server.py on the 28x28 model). With
# batching on, one image a request: the hop cost the server 60-110 us of CPU and the
# request 180-230 us of its ~0.9 ms (docs/serving.md, "Batching").
INLINE_VALUES = 16 * 784


def runs_on_the_loop(inputs: Tensors) -> bool:
    """Whether an inference on `inputs` is small enough to run on the event loop."""
    return sum(a.size for a in inputs.values()) <= INLINE_VALUES


@dataclass
class _Pending:
    inputs: Tensors
    rows: int
    done: asyncio.Future[Tensors] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    """Merges concurrent inferences on one model version.

    Args:
        model: the model version.
        max_batch_size: most rows per merged inference.
        timeout_seconds: longest wait for a batch to fill.
        limiter: bounds the worker threads, so also the merged inferences running at once;
            shared with the data plane's other inferences.
    """

    def __init__(
        self,
        model: OnnxModel,
        max_batch_size: int,
        timeout_seconds: float,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        self._model = model
        self._max_rows = max_batch_size
        self._timeout = timeout_seconds
        self._limiter = limiter
        self._queue: deque[_Pending] = deque()
        self._workers: set[asyncio.Task[None]] = set()

    async def predict(self, inputs: Tensors) -> Tensors:
        """Outputs for `inputs` (prepared tensors), computed together with others."""
        pending = _Pending(inputs, len(next(iter(inputs.values()))))
        self._queue.append(pending)
        if self._wants_worker():
            self._workers.add(asyncio.create_task(self._drain()))
        return await pending.done

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._run_one()
        finally:
            # Here, not in a done callback: those run a loop turn later, and a request
            # arriving in between would count a finished worker and start none.
            self._workers.discard(asyncio.current_task())

    async def _run_one(self) -> None:
        if self._timeout > 0 and self._rows_queued() < self._max_rows:
            await asyncio.sleep(self._timeout)
        batch = self._take()  # empty if other workers took all while this one waited
        if batch:
            await self._infer(batch)

    async def _infer(self, batch: list[_Pending]) -> None:
        try:
            merged = {
                name: np.concatenate([p.inputs[name] for p in batch]) for name in batch[0].inputs
            }
            if runs_on_the_loop(merged):
                outputs = self._model.predict(merged)
            else:
                outputs = await anyio.to_thread.run_sync(
                    self._model.predict, merged, limiter=self._limiter
                )
        except Exception as exc:  # each waiting request gets the failure
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            return
        start = 0
        for pending in batch:
            end = start + pending.rows
            if not pending.done.done():
                pending.done.set_result({k: v[start:end] for k, v in outputs.items()})
            start = end

    def _wants_worker(self) -> bool:
        """A first worker at once; another only for a queue that fills a quarter batch.

        Small requests are best merged: starting a worker for each batch-1 request cut
        batch-1 gRPC from ~1,660 to ~1,350 requests/s (ONNX Runtime runs of one image on
        both cores at once). Batch-64 requests each fill a quarter of the default
        --max_batch_size, so they run side by side.
        """
        if not self._workers:
            return True
        full_enough = self._rows_queued() >= max(1, self._max_rows // 4)
        return full_enough and len(self._workers) < self._limiter.total_tokens

    def _rows_queued(self) -> int:
        return sum(p.rows for p in self._queue)

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._queue and (not batch or rows + self._queue[0].rows <= self._max_rows):
            pending = self._queue.popleft()
            batch.append(pending)
            rows += pending.rows
        return batch
