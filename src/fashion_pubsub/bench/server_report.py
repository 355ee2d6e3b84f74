"""The model server benchmark's verdicts and its section of docs/benchmarks.md."""

import time
from pathlib import Path
from typing import Any

START = "<!-- model-server:start -->"
END = "<!-- model-server:end -->"


def goals(servers: dict[str, Any]) -> dict[str, Any]:
    ours, theirs = servers["fashion-pubsub"], servers["kserve"]
    ratio = ours["json_batch1"]["requests_per_second"] / max(
        theirs["json_batch1"]["requests_per_second"], 1e-9
    )
    images = ours["binary_v2_batch64"]["images_per_second"]
    grpc_ratio = ours["grpc_batch1"]["requests_per_second"] / max(
        theirs["grpc_batch1"]["requests_per_second"], 1e-9
    )
    grpc_images = ours["grpc_batch64"]["images_per_second"]
    return {
        "json_batch1_vs_kserve": round(ratio, 2),
        "json_batch1_goal_2x_met": ratio >= 2,
        "binary_v2_batch64_images_per_second": images,
        "binary_v2_goal_15000_met": images >= 15000,
        "grpc_batch1_vs_kserve": round(grpc_ratio, 2),
        "grpc_batch1_goal_2x_met": grpc_ratio >= 2,
        "grpc_batch64_images_per_second": grpc_images,
        "grpc_batch64_goal_20000_met": grpc_images >= 20000,
    }


def write_docs(path: Path, results: dict[str, Any]) -> None:
    section = _section(results)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _section(results: dict[str, Any]) -> str:
    ours, theirs = results["servers"]["fashion-pubsub"], results["servers"]["kserve"]
    machine, goals = results["machine"], results["goals"]

    def row(name: str, data: dict[str, Any]) -> str:
        one, many = data["json_batch1"], data["binary_v2_batch64"]
        return _row(name, one, many, [one["non_2xx"] + many["non_2xx"]])

    def grpc_row(name: str, data: dict[str, Any]) -> str:
        one, many = data["grpc_batch1"], data["grpc_batch64"]
        cpu = f"{one['client_cpu_cores']} / {many['client_cpu_cores']}"
        return _row(name, one, many, [one["errors"] + many["errors"], cpu])

    return "\n".join(
        [
            START,
            "## Model server",
            "",
            f"Measured by `bench/bench_server.py` on {time.strftime('%Y-%m-%d')}: our server "
            f"(`fashion-pubsub serve`) and kserve {machine['kserve']} "
            "(`bench/kserve_server.py`, its own virtual environment), "
            "one after the other, on the same ONNX model "
            f"(`{Path(results['model']).name}` of `{Path(results['model']).parent.name}`), "
            f"{results['connections']} connections, {results['duration_seconds']} s per figure "
            "after a 2 s warm-up, load from wrk on the same machine; "
            f"{len(results['rounds']['kserve'])} rounds in alternating order, best round "
            "per figure.",
            "",
            "| server | batch-1 JSON req/s | p50 / p99 ms | batch-64 binary V2 img/s | "
            "p50 / p99 ms | non-2xx |",
            "|---|---:|---:|---:|---:|---:|",
            row("fashion-pubsub", ours),
            row("kserve", theirs),
            "",
            "gRPC (the Open Inference Protocol's ModelInfer, uint8 images in "
            "raw_input_contents; ghz on one core, "
            f"{results['connections']} concurrent calls on one connection):",
            "",
            "| server | batch-1 gRPC req/s | p50 / p99 ms | batch-64 gRPC img/s | "
            "p50 / p99 ms | errors | ghz CPU (cores) b1 / b64 |",
            "|---|---:|---:|---:|---:|---:|---:|",
            grpc_row("fashion-pubsub", ours),
            grpc_row("kserve", theirs),
            "",
            f"- batch-1 gRPC: {goals['grpc_batch1_vs_kserve']}x kserve (goal 2x: "
            f"{'met' if goals['grpc_batch1_goal_2x_met'] else 'not met'}); batch-64 gRPC: "
            f"{goals['grpc_batch64_images_per_second']:,.0f} img/s (goal 20,000: "
            f"{'met' if goals['grpc_batch64_goal_20000_met'] else 'not met'}).",
            f"- batch-1 JSON: {goals['json_batch1_vs_kserve']}x kserve (goal 2x: "
            f"{'met' if goals['json_batch1_goal_2x_met'] else 'not met'}).",
            f"- batch-64 binary V2: {goals['binary_v2_batch64_images_per_second']:,.0f} img/s "
            f"(goal 15,000: {'met' if goals['binary_v2_goal_15000_met'] else 'not met'}); "
            "ONNX Runtime alone, in-process without HTTP, ran "
            f"{results['onnxruntime_alone_batch64_images_per_second']:,.0f} img/s on this "
            "model in the same run, one batch of 64 at a time (the server's dynamic batching "
            "merges concurrent requests into larger runs, which can beat that).",
            f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
            f"{machine['os']}, Python {machine['python']}, ONNX Runtime {machine['onnxruntime']}, "
            f"uvicorn {machine['uvicorn']}, Starlette {machine['starlette']}, "
            f"{machine['load_generator']}; load average {machine['load_average_at_start']} "
            "at start (the machine is shared: other work running at the same time lowers "
            "both servers' figures, the ratio less so).",
            "- Our server ran with its defaults (dynamic batching on, timeout 0); kserve "
            "with its defaults (1 worker).",
            "- Raw figures: `bench/results/server.json`. Rerun: `.venv/bin/python "
            "bench/bench_server.py`.",
            END,
        ]
    )


def _row(name: str, one: dict[str, Any], many: dict[str, Any], extra: list[object]) -> str:
    """A table row: batch-1 req/s and latency, batch-64 images/s and latency, `extra`."""
    cells = [
        name,
        f"{one['requests_per_second']:,.0f}",
        f"{one['latency_ms']['p50']} / {one['latency_ms']['p99']}",
        f"{many['images_per_second']:,.0f}",
        f"{many['latency_ms']['p50']} / {many['latency_ms']['p99']}",
        *map(str, extra),
    ]
    return "| " + " | ".join(cells) + " |"
