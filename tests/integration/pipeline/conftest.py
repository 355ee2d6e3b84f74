"""An isolated pipeline per test: its own topics, folders and processes, on the real
broker and a real model server, run as a user runs them (`fashion-pubsub publish|subscribe`)."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.brokers.factory import create_broker
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.model.evaluate import predict_onnx
from fashion_pubsub.pipeline.results import RecordTail
from fashion_pubsub.settings import AppSettings, KafkaSettings, PubSubSettings, TopicSettings
from tests.conftest import MODEL_BASE_PATH, free_port, served_model_version
from tests.support.grpc_serving import spawn_serve, stop

BROKERS = [
    pytest.param("apache-kafka", marks=pytest.mark.kafka, id="kafka"),
    pytest.param("google-pubsub", marks=pytest.mark.pubsub, id="pubsub"),
]


def start_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    ports = ["--rest_api_port", str(port), "--port", "0"]
    process = spawn_serve(log, "--model_base_path", str(MODEL_BASE_PATH), *ports)
    import httpx

    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"model server exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError("model server did not become ready")


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Predict URL of a model server on the committed model, for the whole session."""
    port = free_port()
    process = start_server(port, tmp_path_factory.mktemp("server") / "server.log")
    yield f"http://127.0.0.1:{port}/v1/models/fashion-model:predict"
    stop(process)


@pytest.fixture(scope="session")
def expected_labels(data_dir: Path) -> np.ndarray:
    """What the served (newest) committed version predicts for each test image, by ONNX
    Runtime directly."""
    test = load_split(data_dir, "test")
    return predict_onnx(served_model_version() / "model.onnx", test.images).argmax(axis=1)


@dataclass
class Lane:
    """One pipeline: topics, folders, and the processes started for it."""

    broker_name: str
    address: str
    root: Path
    url: str
    topics: TopicSettings = field(default_factory=lambda: TopicSettings.for_run("test"))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    delivery: str | None = None  # the subscribers' --delivery; None: the broker's default

    def folder(self, name: str) -> Path:
        return self.root / name

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ML_APP_BROKER": self.broker_name,
            "FASHION_PUBSUB_KAFKA_BOOTSTRAP": self.address,
            "PUBSUB_EMULATOR_HOST": self.address,
            "FASHION_PUBSUB_PUBSUB_ACK_DEADLINE_SECONDS": "10",
            **self.topics.as_environment(),
            # Off unless a test asks for a port: tests run side by side on one machine.
            "FASHION_PUBSUB_METRICS_PUBLISHER_PORT": "0",
            "FASHION_PUBSUB_METRICS_SUBSCRIBER_PORT": "0",
            **({"FASHION_PUBSUB_SUBSCRIBER_DELIVERY": self.delivery} if self.delivery else {}),
        }

    def broker(self) -> Broker:
        kafka = KafkaSettings(bootstrap=self.address)
        pubsub = PubSubSettings(emulator_host=self.address, ack_deadline_seconds=10)
        return create_broker(AppSettings(broker=self.broker_name), kafka, pubsub, self.topics)

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "fashion_pubsub", *args],
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def subscriber(
        self,
        name: str = "subscriber",
        url: str | None = None,
        results: str = "results.jsonl",
        extra: Sequence[str] = (),
    ) -> subprocess.Popen[bytes]:
        return self._spawn(
            name,
            [
                "subscribe",
                "--output",
                str(self.folder("output")),
                "--url",
                url or self.url,
                "--results",
                str(self.root / results),
                *extra,
            ],
        )

    def publisher(
        self,
        published: Path | None = None,
        rejected: Path | None = None,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        return self._spawn(
            "publisher",
            [
                "publish",
                "--input",
                str(self.folder("input")),
                "--published",
                str(published or self.folder("published")),
                "--rejected",
                str(rejected or self.folder("rejected")),
                *extra,
            ],
            env,
        )

    def records(self) -> list[dict[str, object]]:
        """The complete records of every results log, read as the product reads them: a
        line still being written waits, and a line torn by a `kill -9` mid-write (the
        next append starts a fresh line after it) is skipped as damaged."""
        return RecordTail().read(sorted(self.root.glob("results*.jsonl")))

    def wait_for_records(self, count: int, seconds: float = 120.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            records = self.records()
            if len(records) >= count:
                return records
            for process in self.processes:
                assert process.poll() in (None, -9, 0), f"a pipeline process died: {self.logs()}"
            time.sleep(0.2)
        raise AssertionError(f"{len(self.records())} of {count} results; {self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in self.root.glob("*.log"))

    def close(self) -> None:
        for process in self.processes:
            stop(process)


@pytest.fixture(params=BROKERS)
def lane(request: pytest.FixtureRequest, tmp_path: Path, model_server: str) -> Iterator[Lane]:
    fixture = "kafka_bootstrap" if request.param == "apache-kafka" else "pubsub_emulator_host"
    lane = Lane(request.param, request.getfixturevalue(fixture), tmp_path, model_server)
    lane.broker().ensure_topics()
    yield lane
    lane.close()
