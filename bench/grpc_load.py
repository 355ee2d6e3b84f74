"""gRPC load for bench/bench_server.py: ghz (a Go load generator, so the client takes
little CPU from the servers) sends the Open Inference Protocol's ModelInfer with raw
UINT8 images, the same request to both servers.

Setup (once; Go from https://go.dev or the distribution):
    GOFLAGS=-mod=mod go install github.com/bojand/ghz/cmd/ghz@latest
"""

import json
import os
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

GHZ_HOME = Path.home() / "go" / "bin" / "ghz"
CALL = "inference.GRPCInferenceService.ModelInfer"


def ghz() -> str | None:
    """The ghz binary: on PATH, or where `go install` puts it."""
    return shutil.which("ghz") or (str(GHZ_HOME) if GHZ_HOME.exists() else None)


def write_requests(work: Path, images: np.ndarray, name: str) -> dict[str, Path]:
    """The service's descriptors for ghz (a protoset, from Triton's client, whose proto
    package is the public `inference`) and the batch-1 and batch-64 requests."""
    from google.protobuf import descriptor_pb2
    from tritonclient.grpc import model_config_pb2, service_pb2

    files = descriptor_pb2.FileDescriptorSet()
    for module in (model_config_pb2, service_pb2):
        module.DESCRIPTOR.CopyToProto(files.file.add())
    paths = {"protoset": work / "inference.protoset"}
    paths["protoset"].write_bytes(files.SerializeToString())
    for key, count in (("grpc_batch1", 1), ("grpc_batch64", 64)):
        request = service_pb2.ModelInferRequest(model_name=name)
        batch = images[:count].reshape(count, 28, 28, 1)
        request.inputs.add(name="images", datatype="UINT8", shape=batch.shape)
        request.outputs.add(name="probabilities")
        request.raw_input_contents.append(batch.tobytes())
        paths[key] = work / f"{key}.bin"
        paths[key].write_bytes(request.SerializeToString())
    return paths


def run_ghz(
    target: str, protoset: Path, request: Path, seconds: int, concurrency: int
) -> dict[str, Any]:
    """A 2 s warm-up, then `seconds` of load: rate, latency, errors, and the CPU ghz used
    (in cores: CPU seconds per second of load)."""
    binary = ghz()
    assert binary is not None
    base = [
        binary,
        "--insecure",
        "--protoset",
        str(protoset),
        "--call",
        CALL,
        "--binary-file",
        str(request),
        "--concurrency",
        str(concurrency),
        "--connections",
        "1",
        "--format",
        "json",
        target,
    ]
    env = {**os.environ, "GOMAXPROCS": "1"}  # one core at most, as wrk -t1
    subprocess.run([*base[:-1], "--duration", "2s", target], capture_output=True, env=env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [*base[:-1], "--duration", f"{seconds}s", target],
        capture_output=True,
        check=True,
        env=env,
    ).stdout.decode(errors="replace")  # ghz echoes the request on some errors
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = json.loads(out)
    latency = {row["percentage"]: row["latency"] for row in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    # the calls still in flight when ghz stops are cut (UNAVAILABLE or CANCELED): not
    # the server's doing
    cut = min(codes.get("Unavailable", 0) + codes.get("Canceled", 0), concurrency)
    return {
        "requests_per_second": round(float(report["rps"]), 1),
        "requests": int(report["count"]),
        "errors": int(sum(n for code, n in codes.items() if code != "OK")) - cut,
        "latency_ms": {f"p{p}": round(latency.get(p, 0) / 1e6, 3) for p in (50, 90, 99)},
        "client_cpu_cores": round(cpu / seconds, 2),
    }
