"""ONNX Runtime throughput of a model version at batch 1 and 64 (no HTTP).

    .venv/bin/python bench/bench_onnx.py [--model models/fashion-model/1/model.onnx]

Writes bench/results/onnx.json.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def images_per_second(session: ort.InferenceSession, batch: int, seconds: float) -> float:
    name = session.get_inputs()[0].name
    images = np.random.default_rng(0).integers(0, 256, (batch, 28, 28, 1)).astype(np.float32)
    for _ in range(20):
        session.run(None, {name: images})
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, {name: images})
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/fashion-model/1/model.onnx"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    figures = {
        "model": str(args.model),
        "threads": args.threads,
        "images_per_second": {
            str(b): round(images_per_second(session, b, args.seconds)) for b in (1, 64)
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = Path("bench/results/onnx.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
