"""The model server's CPU per predict request at a steady pace and back to back.

Starts `fashion-pubsub serve` on a free loopback port (one ONNX Runtime thread, as the
pipeline's stack runs it), sends Open Inference Protocol requests of `--images` images
through the pipeline's own client, first paced at each of `--rates` requests a second,
then back to back, and prints for each phase the server's CPU time per request (user +
system, from /proc), the client's, and the request's p50 / p99. Run it on an otherwise
idle machine, from the repository's root, after `make model` (or with any model folder):

    .venv/bin/python bench/request_pace.py                        # 4 images, 250/s and flat out
    .venv/bin/python bench/request_pace.py --images 1 --rates 100 250 1000

The same request costs more CPU when requests come with pauses between them: each one
finds the server asleep, and on a shared VM its caches cold (docs/benchmarks.md).
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_pubsub.demo.stack import Stack
from fashion_pubsub.infra.ports import free_port
from fashion_pubsub.infra.processes import stat_fields
from fashion_pubsub.serving.client import ServingClient
from fashion_pubsub.settings import InfraSettings

_WARM_UP_REQUESTS = 200


@dataclass(frozen=True)
class Phase:
    """What one phase measured: requests answered, CPU seconds on each side, latencies."""

    rate: float | None  # requests a second; None: back to back
    requests: int
    server_cpu: float
    client_cpu: float
    latencies: list[float]

    def line(self) -> str:
        pace = "back to back" if self.rate is None else f"{self.rate:g}/s"
        p50, p99 = np.percentile(np.array(self.latencies) * 1000, [50, 99])
        return (
            f"{pace:>13}: {self.requests} requests, server {self.per_request(self.server_cpu)}"
            f" µs CPU each, client {self.per_request(self.client_cpu)}, "
            f"p50 {p50:.2f} ms, p99 {p99:.2f}"
        )

    def per_request(self, seconds: float) -> str:
        return f"{seconds / self.requests * 1e6:,.0f}"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"process {pid} is gone")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(
    client: ServingClient, images: np.ndarray, server_pid: int, rate: float | None, seconds: float
) -> Phase:
    """Requests for `seconds`, paced at `rate` a second (None: each right after the last)."""
    latencies: list[float] = []
    server_before, client_before = process_cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    while (now := time.perf_counter()) - started < seconds:
        if rate is not None:
            # a fixed schedule, so a slow answer is not followed by a longer pause
            time.sleep(max(0.0, started + len(latencies) / rate - now))
        sent = time.perf_counter()
        client.classify(images)
        latencies.append(time.perf_counter() - sent)
    return Phase(
        rate,
        len(latencies),
        process_cpu_seconds(server_pid) - server_before,
        time.process_time() - client_before,
        latencies,
    )


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: `kind` of the text, refused unless above zero."""

    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not above zero")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-base-path", type=Path, default=Path("models/fashion-model"))
    parser.add_argument("--images", type=_positive(int), default=4, help="images per request")
    parser.add_argument("--rates", type=_positive(float), nargs="+", default=[250.0])
    parser.add_argument("--seconds", type=_positive(float), default=8.0, help="per phase")
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1/models/fashion-model"
    pixels = np.random.default_rng(0).integers(0, 256, (args.images, 28, 28), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as logs, Stack(InfraSettings(), Path(logs)) as stack:
        # started as the pipeline's stack starts it, and stopped when this ends
        stack.ensure_model_server(base, args.model_base_path, port)
        server_pid = stack.pid("model-server")
        with ServingClient(f"{base}:predict") as client:
            for _ in range(_WARM_UP_REQUESTS):
                client.classify(pixels)
            for rate in [*args.rates, None]:
                print(run_phase(client, pixels, server_pid, rate, args.seconds).line(), flush=True)
