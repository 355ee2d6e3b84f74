"""Background processes tracked by PID files, stopped by PID and never orphaned.

Each service runs in its own session (process group), so stopping it also stops
anything its start script spawned. A PID file records the PID, one argument of its
command line, and the process's start time (in clock ticks since boot, with the boot's
id). A PID is trusted only while all three still match: PIDs are reused, and a reused
PID whose new owner happens to have a similar command line must never get its process
group signalled.
"""

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fashion_pubsub.infra.errors import StartError

# Services started by this process: kept so they are reaped with poll() and never
# reported as "still running" when the Popen object would otherwise be collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
# A PID file of an older version was written this soon after its process started.
_LEGACY_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class PidFile:
    """Where a service's PID is recorded, and a marker proving the PID is still ours."""

    path: Path
    marker: str

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        record = {
            "pid": pid,
            "marker": self.marker,
            "started": time.time(),
            "start_ticks": start_ticks(pid),
            "boot_id": _boot_id(),
        }
        tmp.write_text(json.dumps(record))
        tmp.replace(self.path)

    def read_pid(self) -> int | None:
        """The recorded PID if that process is alive and still the one recorded (same
        start time, same boot, marker in its command line), else None.

        A record written by an older version has no start time, only the wall-clock time
        it was written: its process must have started within the seconds before that (a
        process that reused the PID started after it), so services started before an
        upgrade can still be stopped."""
        try:
            record = json.loads(self.path.read_text())
            pid = int(record["pid"])
            if "start_ticks" in record:
                same = record["boot_id"] == _boot_id() and start_ticks(pid) == record["start_ticks"]
            else:
                same = _started_shortly_before(pid, float(record["started"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        return pid if same and _is_ours(pid, self.marker) else None

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, pid_file: PidFile
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session with output appended to `log_path`, and record its PID."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write(process.pid)
    _CHILDREN[process.pid] = process
    return process


def spawn_until_ready(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    pid_file: PidFile,
    wait_ready: Callable[[subprocess.Popen[bytes]], None],
) -> None:
    """Spawn a service and wait until it answers; if it never does, stop it again."""
    process = spawn(argv, env=env, log_path=log_path, pid_file=pid_file)
    try:
        wait_ready(process)
    except BaseException:
        stop(pid_file)
        raise


def stop(pid_file: PidFile, timeout: float = 20.0) -> int | None:
    """Stop the recorded process group: SIGTERM, then SIGKILL after `timeout`. Returns the PID."""
    pid = pid_file.read_pid()
    if pid is None:
        pid_file.remove()
        return None
    _signal_group(pid, signal.SIGTERM)
    # The recorded process may be a start script whose JVM child outlives it by a moment:
    # done means the whole group is gone, not just its leader.
    if not (wait_exit(pid, timeout) and _wait_group_exit(pid, timeout)):
        _signal_group(pid, signal.SIGKILL)
        wait_exit(pid, 5.0)
        _wait_group_exit(pid, 5.0)
    pid_file.remove()
    return pid


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait until `pid` is gone (reaping it if it is our child); True if it exited."""
    return _wait_until(lambda: not is_alive(pid), timeout)


def _wait_group_exit(group: int, timeout: float) -> bool:
    return _wait_until(lambda: not _group_alive(group), timeout)


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return done()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours to watch; the leader's exit is all we can know
    return True


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie child is reaped and counts as gone."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    fields = stat_fields(pid)
    if not fields:
        return False
    return fields[0] not in ("Z", "X")


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def raise_if_exited(process: subprocess.Popen[bytes], name: str, log_path: Path) -> None:
    """Raise StartError quoting the log when a service we just started has died."""
    if process.poll() is not None:
        raise StartError(
            f"{name} exited with code {process.returncode} while starting; "
            f"last lines of {log_path}:\n{tail(log_path)}"
        )


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat), or None
    if there is no such process. With the boot's id it names one process for ever."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    try:
        return int(fields[19])  # fields[0] is field 3 (the state)
    except (IndexError, ValueError):
        return None


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat from the third (the state) on, or None if there is no
    such process."""
    try:
        # The command name (field 2) may hold spaces and ")": split after its last ")".
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return None


def _started_shortly_before(pid: int, recorded_at: float) -> bool:
    ticks = start_ticks(pid)
    if ticks is None:
        return False
    try:
        line = next(x for x in Path("/proc/stat").read_text().splitlines() if x.startswith("btime"))
    except (FileNotFoundError, StopIteration):
        return False
    started = int(line.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    return recorded_at - _LEGACY_WINDOW_SECONDS <= started <= recorded_at + 1  # 1 s: rounding


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except FileNotFoundError:
        return ""


def _is_ours(pid: int, marker: str) -> bool:
    if not is_alive(pid):
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return marker in arguments


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)
