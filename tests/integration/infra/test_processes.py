"""A recorded PID is trusted only while it is the same process: reused PIDs are never
signalled."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashion_pubsub.infra.processes import PidFile, spawn, start_ticks, stop

MARKER = "fashion-pubsub-test-marker"


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not ours but whose command line holds the marker."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", MARKER], start_new_session=True
    )
    yield process
    process.kill()
    process.wait()


def test_a_reused_pid_with_a_matching_command_line_is_not_signalled(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    pid_file = PidFile(tmp_path / "service.pid", MARKER)
    pid_file.write(bystander.pid)
    record = json.loads(pid_file.path.read_text())
    record["start_ticks"] -= 1  # the recorded process started earlier: another process
    pid_file.path.write_text(json.dumps(record))
    assert pid_file.read_pid() is None
    assert stop(pid_file, timeout=1) is None
    assert bystander.poll() is None, "the bystander still runs"


def test_the_recorded_process_is_stopped(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "service.pid", MARKER)
    process = spawn(
        [sys.executable, "-c", "import time; time.sleep(60)", MARKER],
        env={},
        log_path=tmp_path / "service.log",
        pid_file=pid_file,
    )
    assert start_ticks(process.pid) is not None
    for _ in range(100):  # until the child has exec'd: its command line shows the marker
        if pid_file.read_pid() is not None:
            break
        time.sleep(0.05)
    assert pid_file.read_pid() == process.pid
    assert stop(pid_file, timeout=5) == process.pid
    assert process.poll() is not None


def test_an_older_record_is_trusted_only_for_a_process_started_just_before_it(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    pid_file = PidFile(tmp_path / "service.pid", MARKER)
    for _ in range(100):  # until the bystander has exec'd: its command line shows the marker
        if MARKER.encode() in Path(f"/proc/{bystander.pid}/cmdline").read_bytes():
            break
        time.sleep(0.05)
    record = {"pid": bystander.pid, "marker": MARKER, "started": time.time()}
    pid_file.path.write_text(json.dumps(record))
    assert pid_file.read_pid() == bystander.pid
    record["started"] -= 3600  # written an hour before this process started: PID reused
    pid_file.path.write_text(json.dumps(record))
    assert pid_file.read_pid() is None
