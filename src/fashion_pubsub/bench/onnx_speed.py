"""ONNX Runtime throughput of a model version at batch 1 and 64 (no HTTP).

    .venv/bin/python bench/bench_onnx.py [--model models/fashion-model/2/model.onnx ...]

Writes bench/results/onnx.json: one entry per model, measured alternately, best of 3 rounds.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from fashion_pubsub.model.evaluate import pixel_dtype


def images_per_second(session: ort.InferenceSession, batch: int, seconds: float) -> float:
    model_input = session.get_inputs()[0]
    name = model_input.name
    images = np.random.default_rng(0).integers(0, 256, (batch, 28, 28, 1))
    images = images.astype(pixel_dtype(model_input))
    for _ in range(20):
        session.run(None, {name: images})
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, {name: images})
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model",
        type=Path,
        nargs="+",
        default=[Path(f"models/fashion-model/{v}/model.onnx") for v in (1, 2)],
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    sessions = {
        str(path): ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for path in args.model
    }
    load_at_start = os.getloadavg()
    best: dict[str, dict[str, float]] = {name: {"1": 0.0, "64": 0.0} for name in sessions}
    for _ in range(args.rounds):  # alternating, so a busy moment hurts every model alike
        for name, session in sessions.items():
            for batch in ("1", "64"):
                rate = images_per_second(session, int(batch), args.seconds)
                best[name][batch] = max(best[name][batch], round(rate))
    figures = {
        "threads": args.threads,
        "rounds": args.rounds,
        "images_per_second": best,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "onnxruntime": ort.__version__,
        "load_average_at_start": load_at_start,
    }
    out = Path("bench/results/onnx.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
