"""The `fashion-pubsub` command line: flags -> settings -> one call per subcommand.

Each module registers its subcommands on `main`. Implementations are imported inside
each command, so `--help` and the light commands never load ONNX Runtime, broker
clients or TensorFlow.
"""

from fashion_pubsub.cli import bench, brokers, dashboard, data, demo, infra, model, pipeline, serve
from fashion_pubsub.cli.app import main

__all__ = [
    "main",
    "bench",
    "brokers",
    "dashboard",
    "data",
    "demo",
    "infra",
    "model",
    "pipeline",
    "serve",
]
