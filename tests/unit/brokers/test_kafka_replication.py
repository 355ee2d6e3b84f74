"""Replication of new Kafka topics: settings, then the operators' defaults, then the size."""

import pytest

from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.brokers.kafka_topics import BROKER_DEFAULT, BrokerDefaults, decide_replication
from fashion_pubsub.settings import KafkaSettings


@pytest.mark.parametrize(
    ("nodes", "factor", "in_sync"), [(1, 1, "1"), (2, 2, "1"), (3, 3, "2"), (5, 3, "2")]
)
def test_the_cluster_size_decides_when_nobody_set_anything(
    nodes: int, factor: int, in_sync: str
) -> None:
    replication = decide_replication(BrokerDefaults(nodes), KafkaSettings())
    assert replication.factor == factor
    assert replication.config == {"min.insync.replicas": in_sync}


def test_operators_broker_defaults_are_kept() -> None:
    defaults = BrokerDefaults(5, replication_factor=4, min_insync_replicas=3)
    replication = decide_replication(defaults, KafkaSettings())
    assert replication.factor == 4
    assert replication.config == {}, "the broker's own min.insync.replicas applies"


def test_settings_win() -> None:
    defaults = BrokerDefaults(5, replication_factor=4, min_insync_replicas=3)
    settings = KafkaSettings(replication_factor=2, min_insync_replicas=2)
    replication = decide_replication(defaults, settings)
    assert (replication.factor, replication.config) == (2, {"min.insync.replicas": "2"})


def test_unreadable_broker_configs_leave_it_to_the_broker() -> None:
    defaults = BrokerDefaults(3, BROKER_DEFAULT, BROKER_DEFAULT)
    replication = decide_replication(defaults, KafkaSettings())
    assert (replication.factor, replication.config) == (BROKER_DEFAULT, {})


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (KafkaSettings(replication_factor=3), "needs 3 Kafka brokers"),
        (KafkaSettings(replication_factor=1, min_insync_replicas=2), "exceeds"),
    ],
)
def test_impossible_settings_say_why(settings: KafkaSettings, match: str) -> None:
    with pytest.raises(BrokerError, match=match):
        decide_replication(BrokerDefaults(1), settings)
