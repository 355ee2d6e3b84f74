"""Readiness of a process: named checks (broker, model server) that its clients keep up to
date as calls succeed or fail. `/readyz` answers 200 only while every check is true."""

import threading


class Health:
    """Named readiness checks, all false until first reported.

    Args:
        checks: the names that must all be true for the process to be ready.
    """

    def __init__(self, checks: tuple[str, ...]) -> None:
        self._lock = threading.Lock()
        self._checks = dict.fromkeys(checks, False)

    def report(self, check: str, ok: bool) -> None:
        """Record the latest outcome of `check` (a name given at construction)."""
        with self._lock:
            if check in self._checks:
                self._checks[check] = ok

    def status(self) -> dict[str, bool]:
        """Each check's latest outcome."""
        with self._lock:
            return dict(self._checks)

    def ready(self) -> bool:
        return all(self.status().values())
