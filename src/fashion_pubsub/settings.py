"""Typed, frozen settings: the only place that reads the environment.

Precedence: command-line flags (passed as keyword arguments by `cli.py`), then
environment variables, then the defaults below. Constructing a settings object
reads the environment; importing this module does not.
"""

import hashlib
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

BrokerName = Literal["google-pubsub", "apache-kafka"]
Delivery = Literal["exactly-once", "at-least-once"]
BROKER_NAMES: tuple[BrokerName, ...] = ("google-pubsub", "apache-kafka")

EMULATOR_SCRIPT = Path(
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
)


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, frozen=True, extra="ignore", populate_by_name=True)


# Where Debian's dataset-fashion-mnist package installs the files.
DEBIAN_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")


class AppSettings(BaseSettings):
    """Which broker the pipeline uses (the old design's ML_APP_BROKER)."""

    model_config = _config("ML_APP_")
    broker: BrokerName = "google-pubsub"


class DataSettings(BaseSettings):
    """Where the Fashion-MNIST IDX files are."""

    model_config = _config("FASHION_PUBSUB_")
    data_dir: Path = DEBIAN_DATA_DIR


class TopicSettings(BaseSettings):
    """Names shared by both brokers; `input-topic` is the old design's."""

    model_config = _config("FASHION_PUBSUB_")
    input_topic: str = "input-topic"
    predictions_topic: str = "predictions"
    dead_letter_topic: str = "input-topic-dead-letter"
    subscription: str = "input-topic-subscribers"
    consumer_group: str = "fashion-subscribers"

    @property
    def topic_names(self) -> tuple[str, str, str]:
        """Input, predictions and dead-letter topics."""
        return (self.input_topic, self.predictions_topic, self.dead_letter_topic)

    @classmethod
    def for_run(cls, prefix: str) -> "TopicSettings":
        """Topics, subscription and group of one run (a demo, a bench round, a test), named
        `<prefix>-...-<8 hex>`: a run never reads messages an earlier, interrupted run left
        behind, so its figures are its own. Delete them when the run ends.

        Args:
            prefix: the first word of every name, e.g. "demo".
        """
        suffix = uuid.uuid4().hex[:8]
        return cls(
            input_topic=f"{prefix}-input-{suffix}",
            predictions_topic=f"{prefix}-predictions-{suffix}",
            dead_letter_topic=f"{prefix}-dead-letter-{suffix}",
            subscription=f"{prefix}-input-{suffix}-subscribers",
            consumer_group=f"{prefix}-{suffix}",
        )

    def as_environment(self) -> dict[str, str]:
        """The environment variables that give a child process these names. They are
        derived from the fields and the model's env_prefix, as pydantic-settings reads them,
        so a new field needs no second spelling."""
        prefix = self.model_config.get("env_prefix", "")
        return {
            f"{prefix}{name}".upper(): str(getattr(self, name)) for name in type(self).model_fields
        }


class KafkaSettings(BaseSettings):
    """How clients reach Kafka; a properties file passes through SASL/TLS and the like."""

    model_config = _config("FASHION_PUBSUB_KAFKA_")
    bootstrap: str = "127.0.0.1:9092"
    partitions: int = Field(default=6, ge=1)
    # Unset: the cluster's own defaults if its operators set them, else by its size
    # (1 copy on one node, 3 with 2 in sync on three); see brokers/kafka_topics.py.
    replication_factor: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    client_properties: Path | None = None
    sasl_password: SecretStr | None = None

    def as_librdkafka(self) -> dict[str, Any]:
        """Client configuration for confluent-kafka: the properties file, then our bootstrap."""
        config: dict[str, Any] = {}
        if self.client_properties is not None:
            config.update(read_properties(self.client_properties))
        config.setdefault("bootstrap.servers", self.bootstrap)
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        return config


class PubSubSettings(BaseSettings):
    """Google Cloud Pub/Sub: the emulator when `emulator_host` is set, else the real service."""

    model_config = _config("FASHION_PUBSUB_PUBSUB_")
    project_id: str = Field(
        default="fashion-pubsub-local",
        validation_alias=AliasChoices("FASHION_PUBSUB_PUBSUB_PROJECT_ID", "GOOGLE_CLOUD_PROJECT"),
    )
    emulator_host: str | None = Field(
        default="127.0.0.1:8085",
        validation_alias=AliasChoices(
            "PUBSUB_EMULATOR_HOST", "FASHION_PUBSUB_PUBSUB_EMULATOR_HOST"
        ),
    )
    ack_deadline_seconds: int = Field(default=60, ge=10, le=600)
    max_delivery_attempts: int = Field(default=5, ge=5, le=100)
    min_retry_backoff_seconds: int = Field(default=1, ge=0, le=600)
    max_retry_backoff_seconds: int = Field(default=60, ge=0, le=600)
    # New input subscriptions get Pub/Sub's exactly-once delivery: no redelivery after a
    # successful ack, and ack results. Off by default: it costs throughput and latency on
    # Google Cloud, and results are de-duplicated by image id either way.
    exactly_once_delivery: bool = False


class InfraSettings(BaseSettings):
    """Local Kafka and Pub/Sub emulator processes that `infra up` starts."""

    model_config = _config("FASHION_PUBSUB_INFRA_")
    state_dir: Path = Path(".fashion-pubsub")
    kafka_home: Path = Path(".cache/kafka")
    kafka_pom: Path = Path("infra/kafka/pom.xml")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    # 1: a standalone node. 3: a replicated cluster of combined broker+controller nodes,
    # node i on kafka_port + 2i and kafka_controller_port + 2i.
    kafka_nodes: int = Field(default=1, ge=1, le=9)
    # Per node. Three nodes at 512 MB plus the model server and pipeline fit in 24 GB.
    kafka_heap: str = "512m"
    emulator_script: Path = EMULATOR_SCRIPT
    emulator_port: int = Field(default=8085, ge=1, le=65535)
    emulator_heap: str = "256m"
    # For both JVMs (docs/benchmarks.md, "The JVMs' garbage collector"). On two cores
    # shared with the pipeline, C2 compiling cost Kafka more CPU in each 10,000-image burst
    # than serving it did. The serial collector's young pauses (35-65 ms every ~3 s at
    # 1,000 images/s) were the emulator's tail; G1's are shorter, and bursts were no slower.
    jvm_options: str = "-XX:+UseG1GC -XX:TieredStopAtLevel=1"
    start_timeout_seconds: float = Field(default=60.0, gt=0)


class ServerSettings(BaseSettings):
    """The model server (`fashion-pubsub serve`), with tensorflow_model_server's flag names."""

    model_config = _config("FASHION_PUBSUB_SERVER_")
    model_name: str = "fashion-model"
    model_base_path: Path = Path("models/fashion-model")
    model_config_file: Path | None = None
    model_version_policy: str = "latest"
    file_system_poll_wait_seconds: float = Field(default=1.0, ge=0)
    rest_api_host: str = "127.0.0.1"
    rest_api_port: int = Field(default=8501, ge=0, le=65535)
    rest_api_num_threads: int = Field(default=4, ge=1, le=256)
    rest_api_max_connections: int = Field(default=512, ge=1)
    rest_api_body_timeout_seconds: float = Field(default=30.0, gt=0)
    # tensorflow_model_server's --port; 0 serves no gRPC
    grpc_port: int = Field(default=8500, ge=0, le=65535)
    grpc_host: str = "127.0.0.1"
    # TF Serving accepts messages far above gRPC's default of 4 MiB; so do we, up to this
    grpc_max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=4096, le=2**31 - 1)
    tensorflow_intra_op_parallelism: int = Field(default=0, ge=0)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    rest_api_header_timeout_seconds: float = Field(default=30.0, gt=0)
    enable_batching: bool = True
    max_batch_size: int = Field(default=256, ge=1)
    batch_timeout_micros: int = Field(default=0, ge=0)


class PublisherSettings(BaseSettings):
    """`fashion-pubsub publish`: the folders and how files are batched."""

    model_config = _config("FASHION_PUBSUB_PUBLISHER_")
    input_dir: Path = Path("workdir/input-images")
    published_dir: Path = Path("workdir/published-images")
    rejected_dir: Path | None = None
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # How long a batch may wait to fill behind a backlog (pipeline/batching.py);
    # otherwise what is waiting goes at once (see FilePublisher._next_batch).
    max_wait_seconds: float = Field(default=0.005, ge=0)
    # How long a batch may wait to fill while files come closer together than that
    # (batching.StreamPace); 0: never.
    stream_wait_seconds: float = Field(default=0.0015, ge=0)
    max_image_bytes: int = Field(default=1_000_000, ge=1)
    # Test hook (no flag): SIGKILL itself once this many images are confirmed by the
    # broker, before their files move, so the next run sends them again.
    test_kill_before_move_after: int | None = Field(default=None, ge=1)
    # A file that looks truncated but changed less than this long ago may still be being
    # written (found by the start-up scan, say): it is looked at again before rejection.
    settle_seconds: float = Field(default=2.0, ge=0)

    def rejected_path(self) -> Path:
        """`rejected_dir`, by default `rejected` beside the input folder: on the same file
        system as the input, wherever that is, so a rejection is a rename."""
        return self.rejected_dir or self.input_dir.absolute().parent / "rejected"


class SubscriberSettings(BaseSettings):
    """`fashion-pubsub subscribe`: output folder, model server, batching, patience."""

    model_config = _config("FASHION_PUBSUB_SUBSCRIBER_")
    output_dir: Path = Path("workdir/predicted-images")
    url: str = "http://localhost:8501/v1/models/fashion-model:predict"
    results: Path | None = None
    batch_size: int = Field(default=256, ge=1, le=4096)
    # How long a batch may wait to fill behind a backlog (pipeline/batching.py);
    # otherwise what is waiting is handled at once (see ImageSubscriber._receive).
    max_wait_seconds: float = Field(default=0.005, ge=0)
    # A batch waits for an unavailable model server as long as it takes (never given
    # back, so no delivery attempt counts); `hold_seconds` is how often it says so.
    hold_seconds: float = Field(default=60.0, gt=0)
    max_backoff_seconds: float = Field(default=5.0, gt=0)
    # Failures of one message on its own before it is dead-lettered with its last error.
    # Keep it below Pub/Sub's max_delivery_attempts, whose policy gives no reason.
    max_attempts: int = Field(default=3, ge=1, le=100)
    # None: exactly-once where the broker has transactions (Kafka), else at-least-once.
    delivery: Delivery | None = None
    # Names the Kafka transactional id; None: derived from the results log's path, so a
    # restarted instance fences (and aborts what was left open by) its killed predecessor.
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,100}$")
    # Exactly-once: how long a transaction stays open for more batches before it commits
    # (it also commits when the input is idle, before a rebalance, and at close); 0: one
    # per batch. A commit is a broker round trip (tens of ms on 3 nodes); the price is
    # that an abort or a crash redoes up to this much work, and read_committed readers
    # see results up to this much later. Well below the transaction timeout (60 s).
    transaction_interval_seconds: float = Field(default=0.1, ge=0, le=10)

    def results_path(self) -> Path:
        return self.results or self.output_dir / "results.jsonl"

    def instance_name(self) -> str:
        """This subscriber instance's stable name (see `instance_id`)."""
        if self.instance_id is not None:
            return self.instance_id
        digest = hashlib.sha256(str(self.results_path().resolve()).encode()).hexdigest()
        return f"subscriber-{digest[:12]}"


def read_properties(path: Path) -> dict[str, str]:
    """Read a Java-style `key=value` properties file (also accepts an INI [section])."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!", "[", ";")):
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


class MetricsSettings(BaseSettings):
    """The metrics and health endpoints of `publish` and `subscribe` (/metrics, /healthz,
    /readyz). A port of 0 turns a process's endpoint off."""

    model_config = _config("FASHION_PUBSUB_METRICS_")
    host: str = "127.0.0.1"
    publisher_port: int = Field(default=9101, ge=0, le=65535)
    subscriber_port: int = Field(default=9102, ge=0, le=65535)
    lag_interval_seconds: float = Field(default=2.0, gt=0)


class DashboardSettings(BaseSettings):
    """`fashion-pubsub dashboard`: where it listens and what it reads."""

    model_config = _config("FASHION_PUBSUB_DASHBOARD_")
    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=0, le=65535)
    metrics_urls: tuple[str, ...] = (
        "http://127.0.0.1:9101/metrics",
        "http://127.0.0.1:9102/metrics",
        "http://127.0.0.1:8501/monitoring/prometheus/metrics",
    )
    images_dir: Path | None = None
    rejected_dir: Path | None = None
    interval_seconds: float = Field(default=1.0, ge=0.1, le=60)
