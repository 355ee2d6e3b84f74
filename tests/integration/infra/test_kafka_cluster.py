"""`infra up --kafka-nodes 3`: three KRaft nodes, each with its own ports, folder, log and
PID; a node that died comes back with its data."""

import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fashion_pubsub.infra import kafka
from fashion_pubsub.infra.kafka_node import cluster_nodes
from fashion_pubsub.infra.services import service_statuses
from tests.conftest import KafkaCluster
from tests.integration.infra.test_services import consume_all

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.slow]


def test_status_shows_each_node_and_one_quorum_leader(kafka_cluster: KafkaCluster) -> None:
    if kafka_cluster.settings is None:
        pytest.skip("cluster brought from outside")
    lines = [s.describe() for s in service_statuses(kafka_cluster.settings, "kafka")]
    nodes = [line for line in lines if line.startswith("kafka-")]
    assert len(nodes) == 3 and all("running pid=" in line for line in nodes), lines
    leaders = {line.split("quorum leader=")[1].split()[0] for line in nodes}
    assert len(leaders) == 1 and leaders != {"none"}, lines
    brokers = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap}).list_topics(timeout=10)
    assert sorted(brokers.brokers) == [1, 2, 3]


def test_a_killed_node_restarts_with_its_data(kafka_cluster: KafkaCluster) -> None:
    if kafka_cluster.settings is None:
        pytest.skip("cluster brought from outside")
    settings = kafka_cluster.settings
    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_cluster.bootstrap})
    created = NewTopic(topic, num_partitions=1, replication_factor=3)
    admin.create_topics([created])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": kafka_cluster.bootstrap, "acks": "all"})
    for i in range(20):
        producer.produce(topic, value=f"message-{i}".encode())
    assert producer.flush(30) == 0

    victim = cluster_nodes(settings)[1]
    partition_folder = victim.home / "data" / f"{topic}-0"
    assert partition_folder.is_dir()
    old_pid = kafka.kill_node(victim)
    assert old_pid is not None and not kafka.status(settings).running
    kafka.start(settings)
    assert kafka.status(settings).running
    assert victim.pid_file.read_pid() not in (None, old_pid)
    assert partition_folder.is_dir(), "the restarted node lost its data folder"
    wait_in_sync(admin, topic, victim.node_id)
    values = consume_all(kafka_cluster.bootstrap, topic, 20)
    assert sorted(values) == sorted(f"message-{i}" for i in range(20))


def wait_in_sync(admin: AdminClient, topic: str, node_id: int) -> None:
    """Until `node_id` is back among the in-sync replicas of `topic`'s partition."""
    for _ in range(120):
        partition = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
        if node_id in partition.isrs:
            return
        time.sleep(0.5)
    raise AssertionError(f"node {node_id} never caught up on {topic}: isr={partition.isrs}")
