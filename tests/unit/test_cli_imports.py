"""`fashion-pubsub --help` must stay quick: the CLI loads no numerical or client library."""

import os
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = {"numpy", "onnxruntime", "httpx", "confluent_kafka", "grpc", "tensorflow", "starlette"}


def test_help_imports_no_heavy_library() -> None:
    # A fresh interpreter: this test session has long imported all of them.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fashion_pubsub", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert "Usage:" in done.stdout
    # -X importtime writes one line per module: "import time: self | cumulative | name".
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "fashion_pubsub.cli" in imported
    heavy = {name.split(".")[0] for name in imported} & HEAVY
    assert not heavy
