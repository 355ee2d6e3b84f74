"""Apache Kafka on 127.0.0.1 (KRaft): one node, or a cluster of combined broker and
controller nodes (`kafka_nodes`), all from the same jars.

The jars come from Maven Central through infra/kafka/pom.xml. Storage is formatted
once per node; data folders survive restarts, so topics and messages do too, and
`start` brings back only the nodes that are not running.
"""

import os
import signal
import subprocess
import time

from fashion_pubsub.infra.errors import StartError
from fashion_pubsub.infra.java import resolve_jars
from fashion_pubsub.infra.kafka_node import KafkaNode, cluster_nodes
from fashion_pubsub.infra.processes import raise_if_exited, spawn, stop, tail, wait_exit
from fashion_pubsub.infra.status import ServiceStatus
from fashion_pubsub.settings import InfraSettings

NAME = "kafka"


def address(settings: InfraSettings) -> str:
    """The bootstrap servers: every node of the cluster, comma-separated."""
    return ",".join(node.address for node in cluster_nodes(settings))


def start(settings: InfraSettings) -> ServiceStatus:
    """Start each node that is not running, then wait until the cluster answers with all
    of its brokers (a restarted node rejoins with the data it had)."""
    resolve_jars(settings.kafka_pom, settings.kafka_home / "libs")
    nodes = cluster_nodes(settings)
    started = []
    for node in nodes:
        if node.pid_file.read_pid() is None:
            node.prepare()
            # Voters of a new cluster wait for each other: wait for all once, below.
            process = _spawn(node)
            started.append((node, process))
    if started:
        _wait_ready(settings, started)
    return status(settings)


def _spawn(node: KafkaNode) -> subprocess.Popen[bytes]:
    return spawn(
        node.server_command(), env=os.environ, log_path=node.log_path, pid_file=node.pid_file
    )


def _wait_ready(
    settings: InfraSettings, started: list[tuple[KafkaNode, subprocess.Popen[bytes]]]
) -> None:
    """Wait until a metadata request lists every node as a broker; stop the nodes just
    started if one exits or the cluster never forms."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    wanted = settings.kafka_nodes
    # The probe's "connection refused" lines while Kafka boots are expected, not news.
    admin = AdminClient({"bootstrap.servers": address(settings), "log_level": 0})
    deadline = time.monotonic() + settings.start_timeout_seconds
    try:
        while time.monotonic() < deadline:
            for node, process in started:
                raise_if_exited(process, f"Kafka node {node.node_id}", node.log_path)
            try:
                if len(admin.list_topics(timeout=1.0).brokers) >= wanted:
                    return
            except KafkaException:  # not up yet
                pass
            time.sleep(0.2)
    except BaseException:
        for node, _ in started:
            stop(node.pid_file)
        raise
    for node, _ in started:
        stop(node.pid_file)
    last = started[-1][0].log_path
    raise StartError(
        f"Kafka did not answer with {wanted} broker(s) on {address(settings)} within "
        f"{settings.start_timeout_seconds}s; last lines of {last}:\n{tail(last)}"
    )


def shutdown(settings: InfraSettings) -> ServiceStatus:
    """Stop every node we started (a clean shutdown flushes its logs), by PID: the
    configured ones and any other node found in the state folder."""
    for node in _known_nodes(settings):
        stop(node.pid_file, timeout=30.0)
    return status(settings)


def kill_node(node: KafkaNode) -> int | None:
    """SIGKILL one node (for failure tests): no flush, no clean leader hand-over."""
    pid = node.pid_file.read_pid()
    if pid is not None:
        os.killpg(pid, signal.SIGKILL)
        wait_exit(pid, 10.0)
    return pid


def status(settings: InfraSettings) -> ServiceStatus:
    """The cluster in one line: running when every configured node runs."""
    nodes = cluster_nodes(settings)
    pids = [node.pid_file.read_pid() for node in nodes]
    running = [pid for pid in pids if pid is not None]
    note = "" if len(nodes) == 1 else f"{len(running)}/{len(nodes)} nodes up"
    return ServiceStatus(
        NAME,
        len(running) == len(nodes),
        running[0] if len(running) == 1 and len(nodes) == 1 else None,
        address(settings),
        nodes[0].log_path if len(nodes) == 1 else settings.state_dir,
        note,
    )


def node_statuses(settings: InfraSettings) -> list[ServiceStatus]:
    """One line per node of a cluster, with its view of the controller quorum; for a
    single node, lines only for cluster nodes left in the state folder."""
    if settings.kafka_nodes > 1:
        return [node.status() for node in _known_nodes(settings)]
    single = cluster_nodes(settings)[0].home
    return [node.status() for node in _known_nodes(settings) if node.home != single]


def _known_nodes(settings: InfraSettings) -> list[KafkaNode]:
    configured = cluster_nodes(settings)
    homes = {node.home for node in configured}
    others = [node for node in cluster_nodes(settings, discover=True) if node.home not in homes]
    return configured + others
