"""The model server as a user runs it (`fashion-pubsub serve` with REST and gRPC ports),
and TF Serving's own Python client driven in a separate process.

tensorflow-serving-api imports TensorFlow, which must stay out of the test process
(slow, and its protos would share the descriptor pool with everything else), so
`TfServingClient` runs tests/support/tfs_worker.py and talks to it in JSON lines."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

WORKER = Path(__file__).with_name("tfs_worker.py")


@dataclass(frozen=True)
class RunningServer:
    """A `serve` process: its REST base URL, its gRPC target, and its log."""

    rest: str
    target: str
    log: Path
    process: subprocess.Popen[bytes]

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def running_server(root: Path, *args: str) -> Iterator[RunningServer]:
    """`python -m fashion_pubsub serve ARGS` on free REST and gRPC ports, until it is live."""
    rest_port, grpc_port = free_port(), free_port()
    log = root / f"server-{grpc_port}.log"
    ports = ["--rest_api_port", str(rest_port), "--port", str(grpc_port)]
    process = spawn_serve(log, *ports, "--file_system_poll_wait_seconds", "0.2", *args)
    server = RunningServer(f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}", log, process)
    try:
        _wait_live(server)
        yield server
    finally:
        stop(process)


def spawn_serve(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `python -m fashion_pubsub serve ARGS`, its output appended to `log`."""
    command = [sys.executable, "-m", "fashion_pubsub", "serve", *args]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a user stops it; killed if it has not exited within 20 seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_live(server: RunningServer) -> None:
    """Live over REST, and the gRPC port bound (logged after it is)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the model server exited: {server.logs()}")
        try:
            live = httpx.get(f"{server.rest}/v2/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            live = False
        if live and "grpc_listening" in server.log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the model server did not start: {server.logs()}")


class TfServingClient:
    """tensorflow-serving-api's stubs in a worker process; `call(op, ...)` returns the
    worker's answer: {"code": "OK", ...} or {"code": "NOT_FOUND", "details": ...}.

    Args:
        target: host:port of the gRPC server (may be changed between calls: one worker,
            which takes seconds to import TensorFlow, serves several servers).
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        command = {"op": op, "target": self.target, **arguments}
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the TF Serving client worker exited ({self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
