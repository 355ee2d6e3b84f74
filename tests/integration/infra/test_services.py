"""The launcher behind `infra up|down|status`, on private instances (own folder, own ports)."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fashion_pubsub.infra import kafka
from fashion_pubsub.infra.errors import MissingToolError
from fashion_pubsub.infra.processes import is_alive
from fashion_pubsub.settings import InfraSettings
from tests.conftest import make_infra_settings


def run_cli(settings: InfraSettings, *args: str) -> str:
    command = [
        sys.executable,
        "-m",
        "fashion_pubsub",
        "infra",
        *args,
        "--state-dir",
        str(settings.state_dir),
        "--kafka-port",
        str(settings.kafka_port),
        "--emulator-port",
        str(settings.emulator_port),
    ]
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "FASHION_PUBSUB_INFRA_KAFKA_HOME": str(settings.kafka_home),
        "FASHION_PUBSUB_INFRA_KAFKA_POM": str(settings.kafka_pom),
        "FASHION_PUBSUB_INFRA_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
    }
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def pid_of(line: str) -> int:
    return int(line.split("pid=")[1].split()[0])


@pytest.mark.kafka
@pytest.mark.pubsub
def test_up_then_down_leaves_no_process_behind(tmp_path: Path) -> None:
    settings = make_infra_settings(tmp_path)
    up = run_cli(settings, "up").splitlines()
    assert len(up) == 2 and all("running pid=" in line for line in up)
    pids = [pid_of(line) for line in up]
    assert all(is_alive(pid) for pid in pids)
    # Both JVMs get the configured flags: the emulator's only through its script's JAVA_OPTS.
    flags = InfraSettings.model_fields["jvm_options"].default.split()
    for pid in pids:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert all(flag.encode() in command_line for flag in flags), (pid, command_line)
    assert "running" in run_cli(settings, "status")
    again = run_cli(settings, "up").splitlines()
    assert [pid_of(line) for line in again] == pids, "a second `up` must not start twins"
    down = run_cli(settings, "down")
    assert down.count("stopped") == 2
    assert not any(is_alive(pid) for pid in pids)
    assert "running" not in run_cli(settings, "status")


@pytest.mark.kafka
def test_kafka_restart_keeps_topic_and_messages(tmp_path: Path) -> None:
    settings = make_infra_settings(tmp_path)
    topic = f"restart-{uuid.uuid4().hex[:8]}"
    kafka.start(settings)
    try:
        bootstrap = kafka.address(settings)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=2)])[topic].result(timeout=30)
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(20):
            producer.produce(topic, key=str(i), value=f"message-{i}".encode())
        assert producer.flush(30) == 0
        kafka.shutdown(settings)
        assert not kafka.status(settings).running
        kafka.start(settings)
        assert topic in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
        assert sorted(consume_all(bootstrap, topic, 20)) == sorted(
            f"message-{i}" for i in range(20)
        )
    finally:
        kafka.shutdown(settings)


def consume_all(bootstrap: str, topic: str, count: int) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    values: list[str] = []
    try:
        for _ in range(60):
            for message in consumer.consume(num_messages=count, timeout=1.0):
                assert message.error() is None
                values.append(message.value().decode())
            if len(values) >= count:
                break
    finally:
        consumer.close()
    return values


def test_missing_emulator_names_the_package(tmp_path: Path) -> None:
    from fashion_pubsub.infra import pubsub_emulator

    settings = make_infra_settings(tmp_path).model_copy(
        update={"emulator_script": tmp_path / "nope" / "cloud-pubsub-emulator"}
    )
    with pytest.raises(MissingToolError, match="google-cloud-cli-pubsub-emulator"):
        pubsub_emulator.start(settings)


def test_missing_jars_without_pom_names_the_fix(tmp_path: Path) -> None:
    settings = make_infra_settings(tmp_path).model_copy(
        update={"kafka_home": tmp_path / "empty", "kafka_pom": tmp_path / "no-pom.xml"}
    )
    with pytest.raises(MissingToolError, match="pom.xml|Maven"):
        kafka.start(settings)
