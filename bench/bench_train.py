"""Training time and the recipe's ablations (held-out accuracy only; no export, no test set).

    .venv/bin/python bench/bench_train.py [--epochs 30] [--limit 20000]
    .venv/bin/python bench/bench_train.py --ablations --epochs 10 --limit 20000

The first form times one run of the default recipe and writes bench/results/train.json.
`--ablations` trains the recipe step by step (old recipe; + random shifts; + label
smoothing), each with the same seed, images and epochs, and writes
bench/results/train_ablations.json. Ablations are judged on the held-out images,
never the test set, like model selection. Needs the train extra (TensorFlow).
"""

import argparse
import json
import os
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.logs import configure_logging
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.model.train import train_model

# Each step adds one change to the one before, starting from the recipe of version 1.
ABLATIONS = {
    "version 1 recipe (flips only)": {"crop_padding": 0, "label_smoothing": 0.0},
    "+ random shifts (pad 2, crop)": {"crop_padding": 2, "label_smoothing": 0.0},
    "+ label smoothing 0.1 (recipe)": {"crop_padding": 2, "label_smoothing": 0.1},
    "shifts of up to 4 px instead of 2": {"crop_padding": 4, "label_smoothing": 0.1},
}


def run(config: TrainConfig, data_dir: Path) -> dict[str, Any]:
    """Train once; held-out accuracy, wall and CPU seconds of the whole run."""
    train = load_split(data_dir, "train")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    trained = train_model(train, config)
    used = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "validation_accuracy": round(trained.validation_accuracy, 4),
        "epochs_run": trained.epochs_run,
        "wall_seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 1),
        "history_val_accuracy": [round(v, 4) for v in trained.history["val_accuracy"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--limit", type=int, default=None, help="training images to use")
    parser.add_argument("--ablations", action="store_true")
    args = parser.parse_args()
    configure_logging()
    base = TrainConfig(epochs=args.epochs, limit=args.limit, patience=args.epochs)
    steps = ABLATIONS if args.ablations else {"recipe": {}}
    figures: dict[str, Any] = {
        "epochs": args.epochs,
        "training_images": args.limit or 60_000,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "runs": {},
    }
    out = Path("bench/results") / ("train_ablations.json" if args.ablations else "train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, change in steps.items():
        figures["runs"][name] = {**change, **run(replace(base, **change), args.data_dir)}
        out.write_text(json.dumps(figures, indent=2) + "\n")  # partial results survive
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
