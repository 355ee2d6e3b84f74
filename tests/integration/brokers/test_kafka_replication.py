"""`init-brokers` on real Kafka: topics replicated as the cluster allows, 1/1 on one node
and 3/2 on three, so `acks=all` means two copies before a file counts as published."""

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from fashion_pubsub.brokers.kafka import KafkaBroker
from fashion_pubsub.brokers.kafka_topics import count_partitions
from fashion_pubsub.settings import KafkaSettings, TopicSettings
from tests.conftest import KafkaCluster

pytestmark = pytest.mark.kafka


def replication_of(bootstrap: str, topic: str) -> tuple[int, str]:
    """(copies of partition 0, the topic's effective min.insync.replicas)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partition = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
    resource = ConfigResource(ResourceType.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    return len(partition.replicas), config["min.insync.replicas"].value


def created_topics(bootstrap: str) -> TopicSettings:
    topics = TopicSettings.for_run("replication")
    KafkaBroker(KafkaSettings(bootstrap=bootstrap), topics).ensure_topics()
    return topics


def delete(bootstrap: str, topics: TopicSettings) -> None:
    """Only the topics: no group was made (deleting one on a fresh broker may meet a
    coordinator still loading)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(topics.topic_names)).values():
        future.result(timeout=60)


def test_one_node_gets_one_copy_one_in_sync(kafka_bootstrap: str) -> None:
    topics = created_topics(kafka_bootstrap)
    try:
        for topic in topics.topic_names:
            assert replication_of(kafka_bootstrap, topic) == (1, "1")
    finally:
        delete(kafka_bootstrap, topics)


@pytest.mark.cluster
@pytest.mark.slow
def test_three_nodes_get_three_copies_two_in_sync(kafka_cluster: KafkaCluster) -> None:
    topics = created_topics(kafka_cluster.bootstrap)
    try:
        for topic in topics.topic_names:
            assert replication_of(kafka_cluster.bootstrap, topic) == (3, "2")
    finally:
        delete(kafka_cluster.bootstrap, topics)


def test_the_partition_count_grows_by_the_partitions_of_new_topics(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    before = count_partitions(settings)
    topics = created_topics(kafka_bootstrap)
    try:
        added = len(topics.topic_names) * settings.partitions
        assert count_partitions(settings) == before + added
    finally:
        delete(kafka_bootstrap, topics)
