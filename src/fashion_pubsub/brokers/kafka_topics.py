"""How many copies the product's Kafka topics get, how many must be in sync, and when
topics just created or deleted show as such.

With replication factor 3, `acks=all` waits only for the in-sync replicas: without
`min.insync.replicas` that can be the leader alone, and a publish confirmed by one
node is lost with that node. So the topics get a factor that fits the cluster and a
minimum in-sync count one less: 1/1 on one node, 3/2 on three. Settings win; else a
cluster whose operators set their own broker defaults keeps them; else the cluster's
size decides.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.brokers.kafka_logs import RepeatFilter, client_log_config
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import KafkaSettings

logger = logging.getLogger(__name__)

BROKER_DEFAULT = -1  # NewTopic's "use default.replication.factor"
_LOOK_AGAIN_SECONDS = 0.05


@dataclass(frozen=True)
class BrokerDefaults:
    """What the cluster's operators set, if anything (None: Kafka's built-in default).

    Args:
        nodes: brokers in the cluster.
        replication_factor: an explicitly set `default.replication.factor`.
        min_insync_replicas: an explicitly set `min.insync.replicas`.
    """

    nodes: int
    replication_factor: int | None = None
    min_insync_replicas: int | None = None


@dataclass(frozen=True)
class Replication:
    """What new topics are created with: a factor (or the broker's) and topic configs."""

    factor: int
    config: dict[str, str] = field(default_factory=dict)


def decide_replication(defaults: BrokerDefaults, settings: KafkaSettings) -> Replication:
    """Settings first, then the operators' broker defaults, then the cluster's size.

    Args:
        defaults: the cluster's size and explicitly set broker defaults.
        settings: `replication_factor` and `min_insync_replicas`, when set.
    """
    factor = settings.replication_factor or defaults.replication_factor
    chosen_by_size = factor is None
    if factor is None:
        factor = min(3, defaults.nodes)
    if factor > defaults.nodes:
        raise BrokerError(
            f"replication factor {factor} needs {factor} Kafka brokers; the cluster has "
            f"{defaults.nodes} (set FASHION_PUBSUB_KAFKA_REPLICATION_FACTOR)"
        )
    in_sync = settings.min_insync_replicas
    if in_sync is None and (chosen_by_size or defaults.min_insync_replicas is None):
        in_sync = max(1, min(2, factor - 1))
    if in_sync is not None and factor != BROKER_DEFAULT and in_sync > factor:
        raise BrokerError(f"min.insync.replicas {in_sync} exceeds the replication factor {factor}")
    config = {} if in_sync is None else {"min.insync.replicas": str(in_sync)}
    return Replication(factor, config)


def plan_replication(admin: AdminClient, settings: KafkaSettings) -> Replication:
    """Ask the cluster for its size and defaults, then decide (see `decide_replication`).

    Args:
        admin: a client of the cluster.
        settings: the replication settings.
    """
    try:
        defaults = _broker_defaults(admin)
    except KafkaException as exc:
        raise BrokerError(f"describing the Kafka cluster failed: {exc}") from exc
    replication = decide_replication(defaults, settings)
    log_event(
        logger,
        "topic_replication",
        brokers=defaults.nodes,
        factor=replication.factor,
        min_insync_replicas=replication.config.get("min.insync.replicas", "broker default"),
    )
    return replication


def _broker_defaults(admin: AdminClient) -> BrokerDefaults:
    nodes = admin.describe_cluster(request_timeout=15).result(timeout=30).nodes
    resource = ConfigResource(ResourceType.BROKER, str(nodes[0].id))
    try:
        entries = admin.describe_configs([resource], request_timeout=15)[resource].result(30)
    except KafkaException as exc:  # a real cluster may deny it: its defaults apply
        log_event(logger, "broker_configs_unreadable", logging.WARNING, error=exc)
        return BrokerDefaults(len(nodes), BROKER_DEFAULT, BROKER_DEFAULT)
    return BrokerDefaults(
        len(nodes),
        _explicit(entries, "default.replication.factor"),
        _explicit(entries, "min.insync.replicas"),
    )


def _explicit(entries: dict[str, Any], name: str) -> int | None:
    entry = entries.get(name)
    if entry is None or entry.is_default:
        return None
    return int(entry.value)


def count_partitions(settings: KafkaSettings) -> int:
    """How many partitions the cluster holds, over all topics (internal ones included).

    Each one costs the broker work whether it is used or not: with ~4,100 partitions
    left behind by earlier runs, the broker took 2.5 times the CPU per image and the
    pipeline ran ~30 % slower (docs/benchmarks.md), so the bench records this figure.

    Args:
        settings: how to reach the cluster.
    """
    admin = AdminClient({**settings.as_librdkafka(), **client_log_config(RepeatFilter())})
    try:
        topics = admin.list_topics(timeout=15).topics
    except KafkaException as exc:
        raise BrokerError(f"listing the Kafka cluster's topics failed: {exc}") from exc
    finally:
        admin.poll(0)  # serve its log lines
    return sum(len(topic.partitions) for topic in topics.values())


def await_listing(
    admin: AdminClient,
    names: Iterable[str],
    *,
    listed: bool,
    patience_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Wait until every topic of `names` shows in the cluster's metadata with its
    partitions (`listed`), or until none does (not `listed`), for at most
    `patience_seconds`.

    Kafka answers CreateTopics and DeleteTopics once its controller has made the change;
    the broker that answers metadata requests learns of it a moment later, and a client
    listing the topics right after a creation found one of them missing (a CI run,
    2026-12-01). The change is made either way, so a listing that lags longer is a
    warning, not an error.

    Args:
        admin: a client of the cluster.
        names: the topics just created or deleted.
        listed: whether they should show (created) or not (deleted).
        patience_seconds: how long to look.
        clock: monotonic seconds (tests give their own).
    """
    deadline = clock() + patience_seconds
    waiting = set(names)
    while waiting:
        try:
            topics = admin.list_topics(timeout=5).topics
        except KafkaException:
            topics = None  # no answer: nothing is known yet
        waiting = {
            name for name in waiting if topics is None or has_partitions(topics.get(name)) != listed
        }
        if waiting and clock() >= deadline:
            event = "topics_not_listed_yet" if listed else "topics_still_listed"
            log_event(logger, event, logging.WARNING, topics=sorted(waiting))
            return
        if waiting:
            time.sleep(_LOOK_AGAIN_SECONDS)


def has_partitions(topic: Any) -> bool:
    """Whether a topic's metadata (None: not listed) shows it usable: no error, and its
    partitions known."""
    return topic is not None and topic.error is None and bool(topic.partitions)
