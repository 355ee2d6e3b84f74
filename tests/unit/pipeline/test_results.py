"""The index of images already done, which keeps redelivered images from a second record."""

import time
from pathlib import Path

from fashion_pubsub.pipeline.results import DoneIndex, ResultsLog


def test_lines_appended_to_a_known_log_are_seen_on_the_next_refresh(tmp_path: Path) -> None:
    log = ResultsLog(tmp_path / "results-a.jsonl")
    index = DoneIndex(tmp_path, rescan_seconds=3600)
    assert index.refresh() == set()
    log.append([{"image_id": "first"}])
    log.append([{"image_id": "second"}])
    assert index.refresh() == {"first", "second"}
    log.close()


def test_a_new_subscribers_log_is_found_when_asked_or_after_the_rescan_time(
    tmp_path: Path,
) -> None:
    index = DoneIndex(tmp_path, rescan_seconds=0.2)
    index.refresh()
    for name in ("results-b.jsonl", "results-c.jsonl"):
        (tmp_path / name).write_bytes(b'{"image_id": "%s"}\n' % name.encode())
    assert index.refresh() == set()  # the folder is not listed for every batch
    assert index.refresh(rescan=True) == {"results-b.jsonl", "results-c.jsonl"}
    (tmp_path / "results-d.jsonl").write_bytes(b'{"image_id": "d"}\n')
    time.sleep(0.25)
    assert "d" in index.refresh()
