"""Calls made one at a time on a thread of their own, in the order they were handed in.

The Pub/Sub consumer sends its acks, nacks and lease extensions this way, so the
subscriber's loop does not wait for each round trip: at 2,600 images/s on the emulator
an Acknowledge call held the loop 3.3 ms per batch of ~80 images (docs/benchmarks.md,
"Acks behind the loop, small batches on the loop"). The calls stay in order (a nack is
never overtaken by a later ack), at most `most_waiting` wait (handing in one more waits
for a slot, so a slow service slows the caller instead of growing a queue), and `close`
waits for them, for a limited time.
"""

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

logger = logging.getLogger(__name__)


class OrderedCalls:
    """Runs callables in the background, in order, with at most `most_waiting` pending.

    Args:
        name: the thread's name (it shows in stack dumps and profiles).
        most_waiting: how many calls may be pending before `call` waits for a slot.
    """

    def __init__(self, name: str, most_waiting: int) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(most_waiting)
        self._pending: deque[Future[None]] = deque()

    def call(self, function: Callable[[], None]) -> None:
        """Hand `function` in; it runs after every call handed in before it. What it
        raises is logged with its traceback: the caller has moved on and cannot act on it."""
        self._slots.acquire()
        future = self._thread.submit(function)
        future.add_done_callback(self._done)
        while self._pending and self._pending[0].done():
            self._pending.popleft()
        self._pending.append(future)

    def _done(self, future: "Future[None]") -> None:
        self._slots.release()
        if not future.cancelled() and (error := future.exception()) is not None:
            logger.error("background_call_failed", exc_info=error)

    def close(self, patience: float) -> int:
        """Wait up to `patience` seconds for the calls handed in, drop those not started
        by then, and stop the thread once the one running returns. Returns how many
        calls were not made in time."""
        _, late = wait(self._pending, timeout=patience)
        self._thread.shutdown(wait=False, cancel_futures=True)
        return len(late)
