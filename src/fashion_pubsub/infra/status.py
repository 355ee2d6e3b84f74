"""What `infra status` reports for one service."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceStatus:
    """One service: whether it runs, under which PID, at which address, logging where."""

    name: str
    running: bool
    pid: int | None
    address: str
    log: Path
    note: str = ""

    def describe(self) -> str:
        pid = f" pid={self.pid}" if self.pid is not None else ""
        state = f"running{pid}" if self.running else "stopped"
        note = f" ({self.note})" if self.note else ""
        return f"{self.name:<8} {state:<20} {self.address:<22} log={self.log}{note}"
