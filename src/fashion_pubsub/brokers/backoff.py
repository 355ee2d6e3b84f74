"""Exponential backoff after failures of a call that may pass: how long to wait yet."""

import time
from collections.abc import Callable


class Backoff:
    """Waits `first` seconds after the first failure, doubling up to `maximum`.

    Args:
        first: seconds to wait after one failure.
        maximum: the longest wait.
        clock: monotonic seconds (a test passes its own).
    """

    def __init__(
        self, first: float, maximum: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._first = first
        self._maximum = maximum
        self._clock = clock
        self._until = 0.0
        self.count = 0

    def failed(self) -> float:
        """Count a failure; returns the seconds to wait before the next try."""
        delay = min(self._first * 2.0**self.count, self._maximum)
        self.count += 1
        self._until = self._clock() + delay
        return delay

    def remaining(self) -> float:
        """Seconds still to wait before the next try (0 when it may go now)."""
        return max(0.0, self._until - self._clock())

    def reset(self) -> None:
        """A call succeeded: the next failure waits `first` again."""
        self.count = 0
        self._until = 0.0
