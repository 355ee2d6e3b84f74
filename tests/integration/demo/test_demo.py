"""`fashion-pubsub demo` as a user runs it, on 200 images with each broker."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.model.evaluate import predict_onnx
from fashion_pubsub.settings import InfraSettings, PubSubSettings
from tests.conftest import (
    MODEL_BASE_PATH,
    free_port,
    make_infra_settings,
    pubsub_resource_names,
    served_model_version,
)

IMAGES = 200


def model_accuracy(data_dir: Path, count: int) -> float:
    """Accuracy of the newest committed model on the first `count` test images, by ONNX alone."""
    test = load_split(data_dir, "test")
    probabilities = predict_onnx(served_model_version() / "model.onnx", test.images[:count])
    return float((probabilities.argmax(axis=1) == test.labels[:count]).mean())


def infra_env(infra: InfraSettings) -> dict[str, str]:
    """The environment that points a `fashion-pubsub` process at these local services."""
    return {
        **os.environ,
        "FASHION_PUBSUB_INFRA_STATE_DIR": str(infra.state_dir),
        "FASHION_PUBSUB_INFRA_KAFKA_HOME": str(infra.kafka_home),
        "FASHION_PUBSUB_INFRA_KAFKA_POM": str(infra.kafka_pom),
        "FASHION_PUBSUB_INFRA_KAFKA_PORT": str(infra.kafka_port),
        "FASHION_PUBSUB_INFRA_KAFKA_CONTROLLER_PORT": str(infra.kafka_controller_port),
        "FASHION_PUBSUB_INFRA_EMULATOR_PORT": str(infra.emulator_port),
    }


def run_demo(
    broker: str, infra: InfraSettings, data_dir: Path, workdir: Path, port: int
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "fashion_pubsub",
        "demo",
        "--broker",
        broker,
        "--images",
        str(IMAGES),
        "--data-dir",
        str(data_dir),
        "--workdir",
        str(workdir),
        "--model-base-path",
        str(MODEL_BASE_PATH),
        "--port",
        str(port),
        "--no-live",
        "--timeout",
        "300",
        "--dashboard-port",
        str(free_port()),
    ]
    return subprocess.run(
        command, env=infra_env(infra), capture_output=True, text=True, timeout=600
    )


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and str(os.getpid()) != proc.name:
            found.append(cmdline)
    return found


def check_demo(result: subprocess.CompletedProcess[str], workdir: Path, data_dir: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = list(workdir.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["images"] == IMAGES
    assert summary["accuracy"] == pytest.approx(model_accuracy(data_dir, IMAGES), abs=1e-9)
    assert f"{summary['accuracy']:.4f}" in result.stdout
    assert "dashboard: http://127.0.0.1:" in result.stdout
    report = (run_dir / "report.html").read_text()
    assert all(f">{i}.png<" in report for i in range(IMAGES))
    assert len(list((run_dir / "predicted-images").glob("*-*.png"))) == IMAGES
    assert processes_mentioning(str(run_dir)) == []


@pytest.mark.kafka
@pytest.mark.slow
def test_demo_on_kafka_starts_and_stops_its_own_broker(data_dir: Path, tmp_path: Path) -> None:
    infra = make_infra_settings(tmp_path / "infra")
    port = free_port()
    result = run_demo("apache-kafka", infra, data_dir, tmp_path / "workdir", port)
    check_demo(result, tmp_path / "workdir", data_dir)
    assert "stopped what the demo started: kafka, model-server" in result.stdout
    assert processes_mentioning(str(infra.state_dir)) == []
    assert processes_mentioning(f"--rest_api_port {port}") == []


@pytest.mark.pubsub
@pytest.mark.slow
def test_demo_on_pubsub_twice_leaves_a_running_emulator_running(
    pubsub_emulator_host: str,
    infra_settings: InfraSettings,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    for attempt in ("first", "second"):
        workdir = tmp_path / attempt
        result = run_demo("google-pubsub", infra_settings, data_dir, workdir, port)
        check_demo(result, workdir, data_dir)
        assert "kafka" not in result.stdout.split("stopped what the demo started:")[-1]
    assert processes_mentioning(f"--rest_api_port {port}") == []
    assert processes_mentioning(f"--port={pubsub_emulator_host.split(':')[1]}")
    left = pubsub_resource_names(pubsub_emulator_host, PubSubSettings().project_id, monkeypatch)
    assert [name for name in left if "/demo-" in name] == []  # each run deleted its own
