"""Everything a run needs, started only if not already running, and stopped afterwards:
the broker, the model server, and the pipeline's own processes.

A Stack is a context manager: leaving it (normally, on error or on Ctrl-C) stops
exactly what it started, in reverse order, by PID.
"""

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Self

import httpx

from fashion_pubsub.infra import kafka, pubsub_emulator
from fashion_pubsub.infra.errors import StartError
from fashion_pubsub.infra.processes import PidFile, raise_if_exited, spawn, stop
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import BrokerName, InfraSettings

logger = logging.getLogger(__name__)


class Stack:
    """Starts services and processes for one run; stops on exit what it started.

    Args:
        infra: where the local broker runs (ports, state folder).
        run_dir: folder for this run's PID files and process logs.
    """

    def __init__(self, infra: InfraSettings, run_dir: Path) -> None:
        self._infra = infra
        self._run_dir = run_dir
        self._exit = ExitStack()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.started: list[str] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()  # spawned processes first, then the services, in reverse

    def ensure_broker(self, broker: BrokerName) -> None:
        """Start the local Kafka or emulator unless it already runs (then leave it running)."""
        service = kafka if broker == "apache-kafka" else pubsub_emulator
        if service.status(self._infra).running:
            return
        log_event(logger, "starting", service=service.NAME)
        service.start(self._infra)
        self.started.append(service.NAME)
        self._exit.callback(service.shutdown, self._infra)

    def ensure_model_server(self, url: str, model_base_path: Path, port: int) -> None:
        """Start `fashion-pubsub serve` unless something already answers at `url`."""
        if _answers(url):
            return
        # One ONNX Runtime thread per inference: broker, publisher and subscriber keep the
        # other core busy, and a second thread then costs more CPU per image than it saves
        # in time (~100 against ~82 µs measured; one thread still serves ~12,000 images/s).
        args = ["serve", "--model_base_path", str(model_base_path), "--rest_api_port", str(port)]
        # the pipeline speaks REST; no gRPC port, so two demos never contend for 8500
        args += ["--port", "0", "--tensorflow_intra_op_parallelism", "1"]
        self.spawn("model-server", args)
        self.wait_until(lambda: _answers(url), "model-server", f"the model server at {url}")

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        module: str = "fashion_pubsub",
    ) -> None:
        """Run `python -m <module> <args>` (by default the CLI) until the stack closes."""
        pid_file = PidFile(self._run_dir / f"{name}.pid", marker=module)
        process = spawn(
            [sys.executable, "-m", module, *args],
            env={**os.environ, **(env or {})},
            log_path=self.log_path(name),
            pid_file=pid_file,
        )
        self._processes[name] = process
        self.started.append(name)
        self._exit.callback(stop, pid_file, 15.0)

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call `callback` on leaving the stack: after the processes spawned later have
        stopped, before the services started earlier are."""
        self._exit.callback(callback)

    def log_path(self, name: str) -> Path:
        return self._run_dir / f"{name}.log"

    def pid(self, name: str) -> int:
        """The process ID of `name`, a process this stack spawned."""
        return self._processes[name].pid

    def check_alive(self, name: str) -> None:
        """Raise StartError quoting its log if a process we spawned has exited."""
        process = self._processes.get(name)
        if process is not None:
            raise_if_exited(process, name, self.log_path(name))

    def wait_until(
        self, ready: Callable[[], bool], name: str, what: str, timeout: float = 60.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive(name)
            if time.monotonic() > deadline:
                raise StartError(
                    f"{what} did not become ready within {timeout:.0f}s; see {self.log_path(name)}"
                )
            time.sleep(0.1)


def _answers(url: str) -> bool:
    """True if a TF-Serving-style model status URL answers 200."""
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
