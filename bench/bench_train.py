"""Training time and accuracy of `fashion-pubsub train` (without exporting a version).

    .venv/bin/python bench/bench_train.py [--epochs 14]

Writes bench/results/train.json. Needs the train extra (TensorFlow).
"""

import argparse
import json
import os
import platform
from pathlib import Path

from fashion_pubsub.logs import configure_logging
from fashion_pubsub.model.config import TrainConfig
from fashion_pubsub.model.workflow import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args()
    configure_logging()
    report = run_training(args.data_dir, TrainConfig(epochs=args.epochs), export=None)
    figures = {
        "training_seconds": round(report.trained.seconds, 1),
        "epochs_run": report.trained.epochs_run,
        "validation_accuracy": round(report.trained.validation_accuracy, 4),
        "test_accuracy": round(report.test.accuracy, 4),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    out = Path("bench/results/train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
