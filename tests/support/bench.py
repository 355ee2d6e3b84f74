"""Runs `fashion-pubsub bench` as a user would, for the benchmark's integration tests."""

import subprocess
import sys
from pathlib import Path

from fashion_pubsub.settings import InfraSettings
from tests.conftest import MODEL_BASE_PATH, free_port
from tests.integration.demo.test_demo import infra_env


def run_bench(
    flags: list[str], *, data_dir: Path, workdir: Path, output: Path, infra: InfraSettings
) -> None:
    """Run `fashion-pubsub bench` with `flags` on the committed model and a free port, and
    fail with its output unless it succeeds.

    Args:
        flags: the run's own flags (its mode and sizes).
        data_dir: the Fashion-MNIST folder.
        workdir: where its run folders go.
        output: where its JSON figures go.
        infra: the services it uses (their addresses reach it through the environment).
    """
    command = [sys.executable, "-m", "fashion_pubsub", "bench", *flags]
    command += ["--data-dir", str(data_dir), "--workdir", str(workdir)]
    command += ["--model-base-path", str(MODEL_BASE_PATH), "--port", str(free_port())]
    command += ["--output", str(output), "--timeout", "300"]
    result = subprocess.run(
        command, env=infra_env(infra), capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
