"""One Kafka node (KRaft, combined broker and controller): its ports, folder,
configuration, storage format, PID file and status.

A single-node setup keeps the folder it always had (`<state>/kafka`); the nodes of a
cluster live in `<state>/kafka-node-<id>`. Node `i` (from 0) listens on
`kafka_port + 2i` for clients and `kafka_controller_port + 2i` for the quorum, so
9092/9093, 9094/9095, 9096/9097 by default.
"""

import base64
import json
import shlex
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from fashion_pubsub.infra.errors import StartError
from fashion_pubsub.infra.java import require_java
from fashion_pubsub.infra.processes import PidFile
from fashion_pubsub.infra.status import ServiceStatus
from fashion_pubsub.settings import InfraSettings, read_properties

_MAIN_CLASS = "kafka.Kafka"
_PORT_STEP = 2

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


@dataclass(frozen=True)
class KafkaNode:
    """One node of the local cluster.

    Args:
        node_id: Kafka's node.id, from 1.
        home: its folder (configuration, data, log, PID file).
        port: the client listener.
        controller_port: the quorum listener.
        voters: every voter of the quorum as `id@host:port`; one voter is a standalone node.
        settings: jars, heap and JVM options.
    """

    node_id: int
    home: Path
    port: int
    controller_port: int
    voters: tuple[str, ...]
    settings: InfraSettings

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.home / "kafka.log"

    @property
    def pid_file(self) -> PidFile:
        return PidFile(self.home / "kafka.pid", marker=str(self.config_path.resolve()))

    def server_properties(self) -> str:
        """Loopback only, tuned for a small machine; internal topics replicated as far as
        the cluster allows (3 copies, 2 in sync) so a node's death loses no offsets or
        transaction state."""
        data = (self.home / "data").resolve()
        size = len(self.voters)
        copies, in_sync = min(3, size), min(2, size)
        quorum = (
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}"
            if size == 1
            else f"controller.quorum.voters={','.join(self.voters)}"
        )
        # One network thread and one request handler: with two and four, on two cores
        # shared with the pipeline, each request woke another idle thread; one of each
        # stays busy and takes what queued meanwhile. At a steady 1,000 images/s Kafka's CPU
        # per image was 306-335 against 343-368 us (3 alternating pairs); at 2,200 images/s
        # the whole pipeline's was 661-673 against 697-754 us and p99 50-75 against 62-100
        # ms (3 pairs); bursts of 10,000 were no slower (docs/benchmarks.md, "Kafka's
        # threads").
        return f"""\
process.roles=broker,controller
node.id={self.node_id}
{quorum}
listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=6
auto.create.topics.enable=false
default.replication.factor={copies}
min.insync.replicas={in_sync}
offsets.topic.replication.factor={copies}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={copies}
transaction.state.log.min.isr={in_sync}
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor={copies}
share.coordinator.state.topic.min.isr={in_sync}
group.initial.rebalance.delay.ms=0
num.network.threads=1
num.io.threads=1
"""

    def java_command(self, *args: str) -> list[str]:
        libs = (self.settings.kafka_home / "libs").resolve()
        log4j = (self.home / "log4j2.properties").resolve()
        return [
            require_java(),
            f"-Xmx{self.settings.kafka_heap}",
            *shlex.split(self.settings.jvm_options),
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def server_command(self) -> list[str]:
        return self.java_command(_MAIN_CLASS, str(self.config_path.resolve()))

    def prepare(self) -> None:
        """Write the configuration and format the storage if this is its first start, with
        the cluster id every node of this state folder shares."""
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(_LOG4J2)
        if (self.home / "data" / "meta.properties").exists():
            return
        # A single node forms its quorum alone; cluster nodes know the voters statically.
        standalone = ["--standalone"] if len(self.voters) == 1 else []
        command = self.java_command(
            "kafka.tools.StorageTool",
            "format",
            *standalone,
            "-t",
            _shared_cluster_id(self.home.parent, len(self.voters)),
            "-c",
            str(self.config_path.resolve()),
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StartError(
                f"formatting Kafka storage of node {self.node_id} failed:\n"
                f"{result.stdout}{result.stderr}"
            )

    def quorum_view(self) -> str:
        """This node's view of the controller quorum, from its quorum-state file (no JVM
        tool needed): the leader it follows and the leader's epoch."""
        state = self.home / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            values = json.loads(state.read_text())
        except (FileNotFoundError, ValueError):
            return "quorum unknown"
        leader = values.get("leaderId", -1)
        epoch = values.get("leaderEpoch", "?")
        return f"quorum leader={leader if leader != -1 else 'none'} epoch={epoch}"

    def status(self) -> ServiceStatus:
        pid = self.pid_file.read_pid()
        return ServiceStatus(
            f"kafka-{self.node_id}",
            pid is not None,
            pid,
            self.address,
            self.log_path,
            f"controller 127.0.0.1:{self.controller_port}, {self.quorum_view()}",
        )


def cluster_nodes(settings: InfraSettings, discover: bool = False) -> list[KafkaNode]:
    """The nodes `settings` configures, or (discover) those found in the state folder.

    Args:
        settings: node count, ports, state folder.
        discover: list the nodes whose folders exist instead, with the ports recorded in
            their configuration, so `down` stops nodes started with another node count.
    """
    if discover:
        found = (_from_folder(settings, home) for home in _node_folders(settings))
        return [node for node in found if node is not None]
    count = settings.kafka_nodes
    ports = [
        (settings.kafka_port + _PORT_STEP * i, settings.kafka_controller_port + _PORT_STEP * i)
        for i in range(count)
    ]
    voters = tuple(f"{i + 1}@127.0.0.1:{controller}" for i, (_, controller) in enumerate(ports))
    return [
        KafkaNode(i + 1, _node_home(settings, i + 1, count), port, controller, voters, settings)
        for i, (port, controller) in enumerate(ports)
    ]


def _node_home(settings: InfraSettings, node_id: int, count: int) -> Path:
    return settings.state_dir / ("kafka" if count == 1 else f"kafka-node-{node_id}")


def _node_folders(settings: InfraSettings) -> list[Path]:
    single = settings.state_dir / "kafka"
    return [single] * single.is_dir() + sorted(settings.state_dir.glob("kafka-node-*"))


def _from_folder(settings: InfraSettings, home: Path) -> KafkaNode | None:
    """A node as its written configuration describes it; None if there is none."""
    try:
        config = read_properties(home / "server.properties")
        node_id = int(config["node.id"])
        port = int(config["listeners"].split("PLAINTEXT://127.0.0.1:")[1].split(",")[0])
        controller = int(config["listeners"].rsplit(":", 1)[1])
    except (FileNotFoundError, KeyError, IndexError, ValueError):
        return None
    voters = tuple(filter(None, config.get("controller.quorum.voters", "").split(",")))
    return KafkaNode(node_id, home, port, controller, voters or (f"{node_id}@",), settings)


def _cluster_id() -> str:
    """A random cluster id as Kafka writes them. Like Kafka's own Uuid.randomUuid, never one
    starting with "-": StorageTool's argument parser would take it for an option (1 start
    in 64 failed that way)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _shared_cluster_id(state_dir: Path, count: int) -> str:
    """The id all nodes of a cluster are formatted with, kept beside their folders (a
    node formatted later, its folder lost, must join the same cluster)."""
    if count == 1:
        return _cluster_id()
    path = state_dir / "kafka-cluster-id"
    if not path.exists():
        path.write_text(_cluster_id())
    return path.read_text().strip()
