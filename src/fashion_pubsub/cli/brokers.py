"""`init-brokers`, and the flags every broker-using command shares."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import (
    CONTEXT,
    F,
    build,
    main,
    setting,
)
from fashion_pubsub.settings import (
    BROKER_NAMES,
    AppSettings,
    KafkaSettings,
    PubSubSettings,
    TopicSettings,
)


def _kafka(field: str, help: str, **kw: Any) -> Callable[[F], F]:
    """A KafkaSettings flag, spelled --kafka-<field>."""
    return setting(KafkaSettings, field, f"--kafka-{field.replace('_', '-')}", help=help, **kw)


def broker_settings_options(func: F) -> F:
    """Flags for reaching Kafka and Pub/Sub (each also settable by environment)."""
    func = _kafka("bootstrap", "Kafka bootstrap servers.")(func)
    func = _kafka("partitions", "Partitions of new Kafka topics.", type=int)(func)
    func = _kafka(
        "replication_factor",
        "Copies of new Kafka topics [none: the cluster's default, else 3 or fewer nodes].",
        type=click.IntRange(1),
    )(func)
    func = _kafka(
        "min_insync_replicas",
        "min.insync.replicas of new Kafka topics [none: the cluster's, else factor-1].",
        type=click.IntRange(1),
    )(func)
    func = _kafka(
        "client_properties",
        "librdkafka properties file (SASL/TLS for a real cluster).",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
    )(func)
    func = setting(
        PubSubSettings, "project_id", "--pubsub-project", help="Google Cloud project id."
    )(func)
    func = setting(
        PubSubSettings,
        "exactly_once_delivery",
        "--pubsub-exactly-once-delivery/--no-pubsub-exactly-once-delivery",
        help="Create the input subscription with Pub/Sub's exactly-once delivery.",
    )(func)
    return setting(
        PubSubSettings,
        "emulator_host",
        "--pubsub-emulator-host",
        help="Pub/Sub emulator host:port; empty string for real Google Cloud.",
    )(func)


def build_broker(broker: str | None, flags: dict[str, Any]) -> Any:
    """The broker chosen by --broker / ML_APP_BROKER, configured from the broker flags."""
    from fashion_pubsub.brokers.factory import create_broker

    return create_broker(
        build(AppSettings, broker=broker),
        build(
            KafkaSettings,
            bootstrap=flags.pop("bootstrap", None),
            partitions=flags.pop("partitions", None),
            replication_factor=flags.pop("replication_factor", None),
            min_insync_replicas=flags.pop("min_insync_replicas", None),
            client_properties=flags.pop("client_properties", None),
        ),
        build(
            PubSubSettings,
            project_id=flags.pop("project_id", None),
            emulator_host=flags.pop("emulator_host", None),
            exactly_once_delivery=flags.pop("exactly_once_delivery", None),
        ),
        build(TopicSettings),
    )


@main.command("init-brokers", context_settings=CONTEXT)
@click.option(
    "--broker",
    "which",
    type=click.Choice(["all", *BROKER_NAMES]),
    default="all",
    help="Which broker(s) to initialise (the old initialize_broker.py did both).",
)
@broker_settings_options
def init_brokers(which: str, **flags: Any) -> None:
    """Create topics, subscriptions and dead-letter setup; running it twice is fine."""
    names = BROKER_NAMES if which == "all" else (which,)
    for name in names:
        build_broker(name, dict(flags)).ensure_topics()
        topics = build(TopicSettings)
        click.echo(
            f"{name}: {topics.input_topic}, {topics.predictions_topic}, "
            f"{topics.dead_letter_topic} ready"
        )
