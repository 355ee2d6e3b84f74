"""The append-only results log (JSON lines) and the index of images already done.

Every subscriber appends whole lines with one write per batch, under an exclusive
`flock` of the file so that the lines of two subscribers sharing a file never
interleave, even when a write comes back short and is continued.

A line torn by a process killed mid-write, or by a disk that filled up, is never cut
off: another subscriber may be appending to the same file at that moment, and cutting
would lose its lines. The next append starts on a fresh line instead, and readers skip
the torn line as damaged. The index follows its own log and every `results*.jsonl` in
the log's folder incrementally, so subscribers sharing a folder see each other's
results and a redelivered image gets no second record.
"""

import errno
import fcntl
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from fashion_pubsub.pipeline.errors import ResultsWriteError

PATTERN = "results*.jsonl"


class ResultsLog:
    """Appends records to one JSONL file, which other processes may append to as well.

    Args:
        path: the log; created if missing. A torn last line is left for readers to skip.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append one line per record; all of them, or raise.

        Raises:
            ResultsWriteError: not everything was written (disk full, say): the records
                must not count as recorded. A line written in part is skipped by readers.
        """
        data = b"".join(orjson.dumps(r) + b"\n" for r in records)
        if not data:
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if not self._ends_with_newline():
                data = b"\n" + data  # after a torn line: start a fresh one
            self._write_all(data)
        except OSError as exc:
            raise ResultsWriteError(f"{self.path}: results not written ({exc})") from exc
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _ends_with_newline(self) -> bool:
        size = os.fstat(self._fd).st_size
        return size == 0 or os.pread(self._fd, 1, size - 1) == b"\n"

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            if written <= 0:
                raise OSError(errno.ENOSPC, "the write made no progress")
            view = view[written:]

    def close(self) -> None:
        os.close(self._fd)


class RecordTail:
    """Reads the complete records appended to JSONL files since the last call."""

    def __init__(self) -> None:
        self._offsets: dict[Path, int] = {}

    def read(self, paths: Iterable[Path]) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for path in paths:
            self._offsets[path] = self._read(path, self._offsets.get(path, 0), records)
        return records

    @staticmethod
    def _read(path: Path, offset: int, records: list[dict[str, Any]]) -> int:
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            return offset
        complete = chunk.rfind(b"\n") + 1  # a line still being written waits for next time
        for line in chunk[:complete].splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line damaged by an old crash: skip it, keep reading
            if isinstance(record, dict):
                records.append(record)
        return offset + complete


class DoneIndex:
    """Image ids that have a result in any results log of a folder.

    The logs already found are read on every refresh. The folder itself, which by
    default also holds every output image, is listed again at most every
    `rescan_seconds` or when asked: listing it for every batch cost ~2 ms per batch at
    10,000 outputs, and grew with each image. A subscriber creates its log when it
    starts, seconds before its first result (joining a group takes that long), so the
    others find the log before it holds anything.

    Args:
        folder: where the logs are (`results*.jsonl`).
        rescan_seconds: how often to look for new logs.
        own_log: this subscriber's log, followed even if its name does not match
            `results*.jsonl` (else a restart would not see its own results).
    """

    def __init__(
        self, folder: Path, rescan_seconds: float = 1.0, own_log: Path | None = None
    ) -> None:
        self._folder = folder
        self._own_log = own_log
        self._rescan_seconds = rescan_seconds
        self._logs: list[Path] = []
        self._next_scan = 0.0
        self._tail = RecordTail()
        self.done: set[str] = set()

    def refresh(self, rescan: bool = False) -> set[str]:
        """Read what was appended since the last call; returns the ids now known done.

        Args:
            rescan: look for new logs now (a redelivered message may have its result in
                the log of a subscriber that has just started).
        """
        now = time.monotonic()
        if rescan or now >= self._next_scan:
            logs = set(self._folder.glob(PATTERN))
            if self._own_log is not None:  # followed whatever its name
                logs.add(self._own_log)
            self._logs = sorted(logs)
            self._next_scan = now + self._rescan_seconds
        records = self._tail.read(self._logs)
        self.done.update(str(r["image_id"]) for r in records if "image_id" in r)
        return self.done
