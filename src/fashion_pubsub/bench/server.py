"""Model server benchmark: ours against kserve's, same ONNX model, same machine, one run.

Measures, with wrk (a C load generator, so the client takes little CPU from the servers):
  * batch-1 JSON: TF Serving predict `{"instances": [28x28x1 ints]}`, 8 connections, req/s;
  * batch-64 binary V2: Open Inference Protocol with the binary tensor data extension,
    uint8 [64,28,28] in, FP32 [64,10] out, images/s;
and with ghz (a Go gRPC load generator, limited to one core; see bench/grpc_load.py):
  * gRPC batch 1 and batch 64: the Open Inference Protocol's ModelInfer, uint8 images in
    raw_input_contents, 8 concurrent calls on one connection, with ghz's own CPU use.

Setup (once):
    sudo apt-get install wrk
    GOFLAGS=-mod=mod go install github.com/bojand/ghz/cmd/ghz@latest
    python -m venv .venv-kserve && .venv-kserve/bin/pip install kserve onnxruntime
Run:
    .venv/bin/python bench/bench_server.py            # the latest version in models/fashion-model
    .venv/bin/python bench/bench_server.py --tiny-model   # before a trained model exists

Writes bench/results/server.json and the "Model server" section of docs/benchmarks.md.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from fashion_pubsub.bench import grpc_load
from fashion_pubsub.bench.figures import cpu_model
from fashion_pubsub.bench.server_report import goals, write_docs
from fashion_pubsub.infra.ports import free_port
from fashion_pubsub.serving.batches import binary_infer_header

NAME = "fashion-model"


def main() -> None:
    """Measure both servers and write the figures; run from the repository's root."""
    root = Path.cwd()
    args = _parse_args(root)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: sudo apt-get install wrk")
    if grpc_load.ghz() is None:
        sys.exit("ghz is missing: GOFLAGS=-mod=mod go install github.com/bojand/ghz/cmd/ghz@latest")
    if not args.kserve_python.exists():
        sys.exit(
            f"{args.kserve_python} is missing: python -m venv .venv-kserve && "
            ".venv-kserve/bin/pip install kserve onnxruntime"
        )
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        work = Path(tmp)
        model_dir = _model_dir(args, work, root)
        images = _images(args.data_dir, 64)
        bodies = _write_bodies(work, images)
        grpc_requests = grpc_load.write_requests(work, images, NAME)
        results: dict[str, Any] = {
            "model": str(model_dir),
            "machine": _machine(args.kserve_python),
            "duration_seconds": args.duration,
            "connections": args.connections,
            "servers": {},
        }
        base = work / "models" / NAME
        base.mkdir(parents=True)
        os.symlink(model_dir, base / "1")
        ours = [
            sys.executable,
            "-m",
            "fashion_pubsub",
            "serve",
            "--model_base_path",
            str(base),
            "--rest_api_port",
            "{port}",
            "--port",
            "{grpc}",
        ]
        kserve = [
            str(args.kserve_python),
            # run by path: kserve's environment has no fashion_pubsub
            str(root / "bench" / "kserve_server.py"),
            "--model_dir",
            str(model_dir),
            "--model_name",
            NAME,
            "--http_port",
            "{port}",
            "--grpc_port",
            "{grpc}",
        ]
        servers = [("fashion-pubsub", ours), ("kserve", kserve)]
        rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in servers}
        for number in range(args.rounds):
            # alternate the order so that a burst of other work on the shared machine
            # does not always land on the same server
            for label, command in servers if number % 2 == 0 else servers[::-1]:
                rounds[label].append(_measure(label, command, bodies, grpc_requests, work, args))
        results["rounds"] = rounds
        results["servers"] = {label: _best(runs) for label, runs in rounds.items()}
        results["onnxruntime_alone_batch64_images_per_second"] = _raw_onnxruntime(
            model_dir, images, args.duration
        )
        results["goals"] = goals(results["servers"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    write_docs(args.docs, results)
    print(json.dumps(results["servers"], indent=2))
    print(json.dumps(results["goals"], indent=2))


def _parse_args(root: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="a version folder with model.onnx "
        "[default: the latest version in models/fashion-model]",
    )
    parser.add_argument(
        "--tiny-model", action="store_true", help="benchmark the tests' small linear model instead"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=root.parent / "shared" / "data" / "fashion-mnist",
        help="Fashion-MNIST (random pixels if missing)",
    )
    parser.add_argument(
        "--kserve-python", type=Path, default=root / ".venv-kserve" / "bin" / "python"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds in alternating order; each figure is its best round",
    )
    parser.add_argument("--output", type=Path, default=root / "bench" / "results" / "server.json")
    parser.add_argument("--docs", type=Path, default=root / "docs" / "benchmarks.md")
    return parser.parse_args()


def _model_dir(args: argparse.Namespace, work: Path, root: Path) -> Path:
    if args.tiny_model:
        from fashion_pubsub.model.tiny import export_version

        return export_version(work / "tiny", 1).resolve()
    if args.model_dir is not None:
        return Path(args.model_dir).resolve()
    base = root / "models" / NAME
    versions = sorted((int(p.name) for p in base.glob("*") if p.name.isdigit()), reverse=True)
    for version in versions:
        if (base / str(version) / "model.onnx").is_file():
            return (base / str(version)).resolve()
    sys.exit(f"no version with model.onnx under {base}; train one or pass --tiny-model")


def _images(data_dir: Path, count: int) -> np.ndarray:
    try:
        from fashion_pubsub.data.dataset import load_split

        return load_split(data_dir, "test").images[:count]
    except Exception:  # the benchmark only needs pixels; random ones do if the data is absent
        return np.random.default_rng(0).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def _write_bodies(work: Path, images: np.ndarray) -> dict[str, tuple[Path, dict[str, str]]]:
    """Request bodies on disk for wrk: batch-1 TF JSON and batch-64 binary V2."""
    json_body = orjson.dumps({"instances": images[:1].reshape(1, 28, 28, 1).tolist()})
    header = binary_infer_header(images, "probabilities")
    (work / "batch1.json").write_bytes(json_body)
    (work / "batch64.bin").write_bytes(header + images.tobytes())
    return {
        "json_batch1": (work / "batch1.json", {"Content-Type": "application/json"}),
        "binary_v2_batch64": (
            work / "batch64.bin",
            {
                "Content-Type": "application/octet-stream",
                "Inference-Header-Content-Length": str(len(header)),
            },
        ),
    }


def _measure(
    label: str,
    command: list[str],
    bodies: dict[str, tuple[Path, dict[str, str]]],
    grpc_requests: dict[str, Path],
    work: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    port, grpc_port = free_port(), free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    command = [part.replace("{grpc}", str(grpc_port)) for part in command]
    with _running(command, port, work / f"{label}.log"):
        url = f"http://127.0.0.1:{port}"
        runs = {
            "json_batch1": _wrk(
                f"{url}/v1/models/{NAME}:predict", *bodies["json_batch1"], work, args
            ),
            "binary_v2_batch64": _wrk(
                f"{url}/v2/models/{NAME}/infer", *bodies["binary_v2_batch64"], work, args
            ),
        }
        for key in ("grpc_batch1", "grpc_batch64"):
            runs[key] = grpc_load.run_ghz(
                f"127.0.0.1:{grpc_port}",
                grpc_requests["protoset"],
                grpc_requests[key],
                args.duration,
                args.connections,
            )
    for key in ("binary_v2_batch64", "grpc_batch64"):
        runs[key]["images_per_second"] = round(runs[key]["requests_per_second"] * 64, 1)
    print(f"{label}: {runs}", file=sys.stderr)
    return runs


@contextlib.contextmanager
def _running(command: list[str], port: int, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"http://127.0.0.1:{port}/v1/models/{NAME}", process, log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    sys.exit(f"server did not become ready: {log.read_text()[-2000:]}")


def _wrk(
    url: str, body: Path, headers: dict[str, str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    script = work / f"{body.stem}.lua"
    lines = [
        'wrk.method = "POST"',
        f'local f = io.open("{body}", "rb")',
        'wrk.body = f:read("*all")',
        "f:close()",
    ]
    lines += [f'wrk.headers["{key}"] = "{value}"' for key, value in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    check = httpx.post(url, content=body.read_bytes(), headers=headers, timeout=10)
    if check.status_code != 200:
        sys.exit(f"{url} answered {check.status_code}: {check.text[:300]}")
    base = ["wrk", "-t1", f"-c{args.connections}", "--latency", "-s", str(script)]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        [*base, f"-d{args.duration}s", url], capture_output=True, text=True, check=True
    ).stdout
    return _parse_wrk(out)


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measurement, the round with the highest rate (least disturbed by other work)."""
    return {
        key: max((run[key] for run in runs), key=lambda r: r["requests_per_second"])
        for key in runs[0]
    }


def _raw_onnxruntime(model_dir: Path, images: np.ndarray, seconds: float) -> float:
    """Images/s of ONNX Runtime alone at batch 64, in this process, no HTTP: the ceiling
    for any server of this model on this machine."""
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    from fashion_pubsub.model.evaluate import pixel_dtype

    model_input = session.get_inputs()[0]
    batch = {model_input.name: images.reshape(-1, 28, 28, 1).astype(pixel_dtype(model_input))}
    for _ in range(5):
        session.run(None, batch)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, batch)
        runs += 1
    return round(runs * len(images) / (time.perf_counter() - started), 1)


def _parse_wrk(out: str) -> dict[str, Any]:
    def number(pattern: str) -> float:
        match = re.search(pattern, out)
        return float(match.group(1)) if match else 0.0

    def millis(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if not match:
            return 0.0
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return round(float(match.group(1)) * scale, 3)

    return {
        "requests_per_second": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": int(number(r"(\d+) requests in")),
        "non_2xx": int(number(r"Non-2xx or 3xx responses:\s+(\d+)")),
        "socket_errors": "Socket errors" in out,
        "latency_ms": {"p50": millis("50%"), "p90": millis("90%"), "p99": millis("99%")},
    }


def _machine(kserve_python: Path) -> dict[str, Any]:
    memory = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "absent"

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": version("onnxruntime"),
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "kserve": _kserve_version(kserve_python),
        "load_generator": subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        .stdout.split("\n")[0]
        .strip(),
    }


def _kserve_version(python: Path) -> str:
    result = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m;print(m.version('kserve'))"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or "absent"
