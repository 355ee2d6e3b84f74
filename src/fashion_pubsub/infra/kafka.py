"""A single-node Apache Kafka (KRaft, combined broker and controller) on 127.0.0.1.

The jars come from Maven Central through infra/kafka/pom.xml. Storage is
formatted once; the data folder survives restarts, so topics and messages do too.
"""

import base64
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

from fashion_pubsub.infra.errors import StartError
from fashion_pubsub.infra.java import require_java, resolve_jars
from fashion_pubsub.infra.processes import (
    PidFile,
    raise_if_exited,
    spawn_until_ready,
    stop,
    tail,
)
from fashion_pubsub.infra.status import ServiceStatus
from fashion_pubsub.settings import InfraSettings

NAME = "kafka"
_MAIN_CLASS = "kafka.Kafka"

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
"""


def _home(settings: InfraSettings) -> Path:
    return settings.state_dir / NAME


def _pid_file(settings: InfraSettings) -> PidFile:
    config = _home(settings) / "server.properties"
    return PidFile(_home(settings) / "kafka.pid", marker=str(config.resolve()))


def _log_path(settings: InfraSettings) -> Path:
    return _home(settings) / "kafka.log"


def address(settings: InfraSettings) -> str:
    return f"127.0.0.1:{settings.kafka_port}"


def server_properties(settings: InfraSettings) -> str:
    """The broker configuration: one node, loopback only, tuned for a small machine."""
    data = (_home(settings) / "data").resolve()
    port, controller = settings.kafka_port, settings.kafka_controller_port
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
"""


def _cluster_id() -> str:
    """A random cluster id as Kafka writes them. Like Kafka's own Uuid.randomUuid, never one
    starting with "-": StorageTool's argument parser would take it for an option (1 start
    in 64 failed that way)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java_command(settings: InfraSettings, *args: str) -> list[str]:
    libs = (settings.kafka_home / "libs").resolve()
    log4j = (_home(settings) / "log4j2.properties").resolve()
    return [
        require_java(),
        f"-Xmx{settings.kafka_heap}",
        *shlex.split(settings.jvm_options),
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        *args,
    ]


def _prepare(settings: InfraSettings) -> Path:
    """Write the configuration and format the storage if this is its first start."""
    resolve_jars(settings.kafka_pom, settings.kafka_home / "libs")
    home = _home(settings)
    (home / "data").mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    config.write_text(server_properties(settings))
    (home / "log4j2.properties").write_text(_LOG4J2)
    if not (home / "data" / "meta.properties").exists():
        command = _java_command(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            _cluster_id(),
            "-c",
            str(config.resolve()),
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StartError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
    return config


def start(settings: InfraSettings) -> ServiceStatus:
    """Start Kafka unless it already runs, and wait until it answers a metadata request."""
    pid_file = _pid_file(settings)
    if pid_file.read_pid() is None:
        config = _prepare(settings)
        spawn_until_ready(
            _java_command(settings, _MAIN_CLASS, str(config.resolve())),
            env=os.environ,
            log_path=_log_path(settings),
            pid_file=pid_file,
            wait_ready=lambda process: _wait_ready(settings, process),
        )
    return status(settings)


def _wait_ready(settings: InfraSettings, process: subprocess.Popen[bytes]) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # The probe's "connection refused" lines while Kafka boots are expected, not news.
    admin = AdminClient({"bootstrap.servers": address(settings), "log_level": 0})
    deadline = time.monotonic() + settings.start_timeout_seconds
    while time.monotonic() < deadline:
        raise_if_exited(process, "Kafka", _log_path(settings))
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException:  # not up yet
            time.sleep(0.2)
    raise StartError(
        f"Kafka did not answer on {address(settings)} within {settings.start_timeout_seconds}s; "
        f"last lines of {_log_path(settings)}:\n{tail(_log_path(settings))}"
    )


def shutdown(settings: InfraSettings) -> ServiceStatus:
    """Stop the broker we started (a clean shutdown flushes its logs), by PID."""
    stop(_pid_file(settings), timeout=30.0)
    return status(settings)


def status(settings: InfraSettings) -> ServiceStatus:
    pid = _pid_file(settings).read_pid()
    return ServiceStatus(NAME, pid is not None, pid, address(settings), _log_path(settings))
