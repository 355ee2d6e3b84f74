"""The records of the batch whose transaction is being committed, kept on disk until
they are in the results log.

In exactly-once mode a batch's records go to the results log only after its
transaction commits (an aborted batch comes again and must not look done). A crash
between the commit and the append would lose them from the log: the broker no
longer delivers that batch. So they are written here first, with the input
positions the commit covers; at the next start, if the consumer group's committed
offsets are past those positions the transaction committed and the records are
appended, else it aborted and they are dropped (the batch comes again).
"""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson


class CommitJournal:
    """One file beside the results log, present only while a commit is under way.

    Args:
        path: the journal file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, records: Sequence[dict[str, Any]], positions: Sequence[str]) -> None:
        """Record what the coming commit covers (before committing)."""
        data = orjson.dumps({"positions": list(positions), "records": list(records)})
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as handle:
            handle.write(data)
        os.replace(tmp, self.path)  # never a torn journal: the old one or the new one

    def read(self) -> tuple[list[dict[str, Any]], list[str]] | None:
        """(records, positions) of an unfinished commit, or None."""
        try:
            entry = orjson.loads(self.path.read_bytes())
            records, positions = entry["records"], entry["positions"]
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError):
            return None
        if not isinstance(records, list) or not isinstance(positions, list):
            return None
        return [r for r in records if isinstance(r, dict)], [str(p) for p in positions]

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
