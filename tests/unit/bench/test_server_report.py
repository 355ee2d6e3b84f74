"""The model server benchmark's docs section: the figures land in the tables, and a rerun
replaces only the section between its markers."""

from pathlib import Path
from typing import Any

from fashion_pubsub.bench.server_report import END, START, goals, write_docs


def _figures(rate: float, images: float) -> dict[str, Any]:
    latency = {"p50": 1.5, "p90": 2.0, "p99": 3.25}
    one = {"requests_per_second": rate, "latency_ms": latency, "non_2xx": 0, "errors": 0}
    many = {**one, "requests_per_second": images / 64, "images_per_second": images}
    grpc = {"client_cpu_cores": 0.4}
    return {
        "json_batch1": one,
        "binary_v2_batch64": many,
        "grpc_batch1": {**one, **grpc},
        "grpc_batch64": {**many, **grpc},
    }


def _results() -> dict[str, Any]:
    servers = {"fashion-pubsub": _figures(2400, 19200), "kserve": _figures(1000, 6400)}
    machine = {
        "kserve": "0.21.0",
        "cpu": "CPU",
        "cores": 2,
        "memory_gib": 23,
        "os": "Linux",
        "python": "3.11",
        "onnxruntime": "1.20",
        "uvicorn": "0.30",
        "starlette": "0.40",
        "load_generator": "wrk 4.2.0",
        "load_average_at_start": [0.5, 0.5, 0.5],
    }
    return {
        "model": "/models/fashion-model/2",
        "connections": 8,
        "duration_seconds": 10,
        "rounds": {"fashion-pubsub": [{}], "kserve": [{}]},
        "servers": servers,
        "machine": machine,
        "goals": goals(servers),
        "onnxruntime_alone_batch64_images_per_second": 21000,
    }


def test_the_tables_show_each_servers_figures(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    write_docs(docs, _results())
    text = docs.read_text()
    assert "| fashion-pubsub | 2,400 | 1.5 / 3.25 | 19,200 | 1.5 / 3.25 | 0 |" in text
    assert "| kserve | 1,000 | 1.5 / 3.25 | 6,400 | 1.5 / 3.25 | 0 |" in text
    assert "| fashion-pubsub | 2,400 | 1.5 / 3.25 | 19,200 | 1.5 / 3.25 | 0 | 0.4 / 0.4 |" in text
    assert "batch-1 JSON: 2.4x kserve (goal 2x: met)" in text


def test_a_rerun_replaces_only_its_own_section(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nbefore\n\n{START}\nold figures\n{END}\n\nafter\n")
    write_docs(docs, _results())
    text = docs.read_text()
    assert "old figures" not in text
    assert text.startswith("# Benchmarks\n\nbefore\n\n")
    assert text.endswith(f"{END}\n\nafter\n")
    assert text.count(START) == 1
