"""The publisher's folders at start: stale hidden copies of killed moves are removed."""

import os
from pathlib import Path

from fashion_pubsub.pipeline.folders import remove_stale_copies


def test_stale_copies_go_and_a_live_writers_copy_stays(tmp_path: Path) -> None:
    live = tmp_path / f".shirt.png.{os.getppid()}.tmp"
    stale = tmp_path / ".coat.png.999999999.tmp"  # above any pid_max: nobody runs it
    own = tmp_path / f".bag.png.{os.getpid()}.tmp"  # this process has not started copying
    for path in (live, stale, own):
        path.write_bytes(b"x")
    assert remove_stale_copies(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]


def test_a_copy_named_with_a_number_beyond_any_pid_is_stale_not_a_crash(tmp_path: Path) -> None:
    """Anyone who can write to the folder chooses these names."""
    forged = tmp_path / f".x.png.{'9' * 30}.tmp"
    forged.write_bytes(b"x")
    assert remove_stale_copies(tmp_path) == 1
    assert not forged.exists()
