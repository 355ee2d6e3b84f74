"""Issue 14's done-when, on a real 3-node cluster: 2,000 images through a publisher
killed between the broker's confirmation and the move, three subscriber kills and the
kill of the node leading the input partitions give exactly 2,000 records on
`predictions` read with read_committed, 2,000 outputs, 2,000 log records, 0 lost."""

import collections
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka.admin import AdminClient

from fashion_pubsub.infra import kafka
from fashion_pubsub.infra.kafka_node import KafkaNode, cluster_nodes
from tests.conftest import KafkaCluster
from tests.support.kafka_reading import read_topic

from .conftest import Lane
from .test_end_to_end import check_exactly_once, feed

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.slow]

IMAGES = 2000


def input_leader(lane: Lane, cluster: KafkaCluster) -> KafkaNode:
    """The node leading most partitions of the input topic."""
    assert cluster.settings is not None
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = admin.list_topics(lane.topics.input_topic, timeout=10).topics[lane.topics.input_topic]
    leaders = collections.Counter(p.leader for p in topic.partitions.values())
    leader = leaders.most_common(1)[0][0]
    return next(n for n in cluster_nodes(cluster.settings) if n.node_id == leader)


def wait_for_more_records(lane: Lane) -> None:
    before = len(lane.records())
    deadline = time.monotonic() + 90
    while len(lane.records()) <= before and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def cluster_lane(kafka_cluster: KafkaCluster, tmp_path: Path, model_server: str) -> Iterator[Lane]:
    lane = Lane("apache-kafka", kafka_cluster.bootstrap, tmp_path, model_server)
    lane.broker().ensure_topics()
    yield lane
    lane.close()


def test_kills_of_publisher_subscriber_and_leader_node_leave_exactly_one_of_each(
    cluster_lane: Lane, kafka_cluster: KafkaCluster, data_dir: Path, expected_labels: np.ndarray
) -> None:
    if kafka_cluster.settings is None:
        pytest.skip("cluster brought from outside: its nodes are not ours to kill")
    lane = cluster_lane
    feed(lane, data_dir, IMAGES)
    # The publisher dies by SIGKILL after its first confirmed batches, files not moved yet.
    crashed = lane.publisher(env={"FASHION_PUBSUB_PUBLISHER_TEST_KILL_BEFORE_MOVE_AFTER": "300"})
    assert crashed.wait(120) == -signal.SIGKILL
    lane.publisher()

    leader = input_leader(lane, kafka_cluster)
    for kill in range(3):
        victim = lane.subscriber()
        wait_for_more_records(lane)
        if kill == 1:
            kafka.kill_node(leader)  # mid-run, while the subscriber works
            wait_for_more_records(lane)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    lane.subscriber()
    wait_for_more_records(lane)
    kafka.start(kafka_cluster.settings)  # the leader comes back with its data

    records = check_exactly_once(lane, IMAGES, expected_labels)
    ids = sorted(str(r["image_id"]) for r in records)
    assert len(set(ids)) == IMAGES
    committed = read_topic(kafka_cluster.bootstrap, lane.topics.predictions_topic, at_least=IMAGES)
    committed_ids = sorted(orjson.loads(value)["image_id"] for _, value in committed)
    assert committed_ids == ids, "predictions read_committed: exactly one record per image"
    inputs = read_topic(kafka_cluster.bootstrap, lane.topics.input_topic, at_least=IMAGES)
    assert len(inputs) > IMAGES, "the publisher's crash sent some files twice"
