"""Kafka's storage format takes the cluster id as a command-line argument."""

from fashion_pubsub.infra.kafka_node import _cluster_id


def test_cluster_ids_never_look_like_an_option() -> None:
    # One random id in 64 used to start with "-", which kafka-storage rejects.
    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)
