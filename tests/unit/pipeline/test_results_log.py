"""The results log under failure: short writes, torn lines, shared files, odd names."""

import os
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from fashion_pubsub.pipeline import results
from fashion_pubsub.pipeline.errors import ResultsWriteError
from fashion_pubsub.pipeline.results import DoneIndex, RecordTail, ResultsLog


def _records(*ids: str) -> list[dict[str, Any]]:
    return [{"image_id": i, "predicted_label": 3} for i in ids]


def _short_writes(monkeypatch: pytest.MonkeyPatch, sizes: list[int]) -> None:
    """os.write that writes at most sizes[0], then sizes[1], ... bytes (then everything);
    0 means the disk is full."""
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        if not sizes:
            return real_write(fd, data)
        limit = sizes.pop(0)
        return real_write(fd, bytes(data)[:limit]) if limit else 0

    monkeypatch.setattr(results.os, "write", write)


def test_a_short_write_is_continued_until_every_record_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = ResultsLog(tmp_path / "results.jsonl")
    _short_writes(monkeypatch, [5, 7, 3])
    log.append(_records("a", "b", "c"))
    log.close()
    assert DoneIndex(tmp_path).refresh() == {"a", "b", "c"}


def test_a_full_disk_raises_instead_of_passing_for_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = ResultsLog(tmp_path / "results.jsonl")
    _short_writes(monkeypatch, [30, 0])  # some bytes, then no room at all
    with pytest.raises(ResultsWriteError, match="not written"):
        log.append(_records("a" * 32, "b" * 32))
    log.append(_records("c"))  # room again: the next batch starts on a fresh line
    log.close()
    assert DoneIndex(tmp_path).refresh() == {"c"}


def test_an_error_from_write_is_a_results_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = ResultsLog(tmp_path / "results.jsonl")

    def no_space(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results.os, "write", no_space)
    with pytest.raises(ResultsWriteError, match="No space left"):
        log.append(_records("a"))
    log.close()


def test_a_starting_subscriber_does_not_cut_a_line_another_is_writing(tmp_path: Path) -> None:
    """Subscriber A is half-way through appending a line when B starts on the same file:
    B used to cut A's half line as a 'torn tail', so A's record was lost."""
    path = tmp_path / "results.jsonl"
    ResultsLog(path).append(_records("first"))
    line = orjson.dumps(_records("second")[0]) + b"\n"
    writer = os.open(path, os.O_WRONLY | os.O_APPEND)
    os.write(writer, line[:10])  # A, mid-line
    other = ResultsLog(path)  # B starts
    os.write(writer, line[10:])  # A finishes its line
    os.close(writer)
    other.append(_records("third"))
    other.close()
    assert DoneIndex(tmp_path).refresh() == {"first", "second", "third"}


def test_a_torn_line_left_by_a_killed_writer_is_skipped_and_the_next_lines_are_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(orjson.dumps(_records("done")[0]) + b'\n{"image_id": "tor')
    index = DoneIndex(tmp_path)
    assert index.refresh() == {"done"}
    log = ResultsLog(path)
    log.append(_records("after"))
    log.close()
    assert index.refresh() == {"done", "after"}
    assert b'"tor\n{"image_id":"after"' in path.read_bytes()


def test_writers_sharing_a_file_never_interleave_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when every write comes back short and is continued."""
    path = tmp_path / "results.jsonl"
    real_write = os.write
    monkeypatch.setattr(results.os, "write", lambda fd, data: real_write(fd, bytes(data)[:7]))
    logs = [ResultsLog(path) for _ in range(4)]

    def append(log: ResultsLog, name: int) -> None:
        for batch in range(20):
            log.append(_records(*(f"{name}-{batch}-{i}" for i in range(5))))

    threads = [threading.Thread(target=append, args=(log, n)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        log.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 4 * 20 * 5
    assert len({orjson.loads(line)["image_id"] for line in lines}) == 400


def test_a_log_not_named_results_is_still_followed_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    log = ResultsLog(path)
    log.append(_records("before-restart"))
    log.close()
    assert "before-restart" in DoneIndex(tmp_path, own_log=path).refresh()


def test_the_tail_reader_waits_for_a_line_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(b'{"image_id": "a"}\n{"image_id": "b"')
    tail = RecordTail()
    assert tail.read([path]) == [{"image_id": "a"}]
    with path.open("ab") as handle:
        handle.write(b"}\n")
    assert tail.read([path]) == [{"image_id": "b"}]
