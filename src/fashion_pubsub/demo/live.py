"""The live progress view: published, predicted, rejected, images/s."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table


@dataclass
class Counts:
    """Progress of a run, read from its folders and results log."""

    expected: int
    published: int = 0
    predicted: int = 0
    rejected: int = 0
    started: float = 0.0

    @property
    def done(self) -> bool:
        return self.predicted + self.rejected >= self.expected

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.predicted / elapsed if elapsed > 0 else 0.0


def count_files(folder: Path, suffix: str = "") -> int:
    """Files in `folder` (not hidden, not `.reason` notes), or 0 if it does not exist yet."""
    try:
        names = os.listdir(folder)  # names, not Paths: this runs five times a second
    except FileNotFoundError:
        return 0
    return sum(
        1
        for name in names
        if not name.startswith(".") and not name.endswith(".reason") and name.endswith(suffix)
    )


def render(counts: Counts, title: str) -> Table:
    table = Table(title=title, min_width=60)
    for column in ("expected", "published", "predicted", "rejected", "images/s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{counts.expected:,}",
        f"{counts.published:,}",
        f"{counts.predicted:,}",
        f"{counts.rejected:,}",
        f"{counts.rate():,.0f}",
    )
    return table


class LiveView:
    """A rich Live table on a terminal; silent when `enabled` is False (CI, pipes)."""

    def __init__(self, title: str, enabled: bool, console: Console | None = None) -> None:
        self._title = title
        self._live = Live(console=console, refresh_per_second=4) if enabled else None

    def __enter__(self) -> "LiveView":
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, counts: Counts) -> None:
        if self._live is not None:
            self._live.update(render(counts, self._title))
