"""The `fashion-pubsub` command line: flags -> settings -> one call per subcommand.

Implementations are imported inside each command so that `--help` and the light
commands never load ONNX Runtime, broker clients or TensorFlow.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

from fashion_pubsub.errors import FashionPubSubError
from fashion_pubsub.model.train import TrainConfig
from fashion_pubsub.settings import (
    BROKER_NAMES,
    AppSettings,
    DataSettings,
    InfraSettings,
    KafkaSettings,
    PublisherSettings,
    PubSubSettings,
    SubscriberSettings,
    TopicSettings,
)

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=BaseSettings)
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


def setting(
    model: type[BaseSettings], field: str, *decls: str, help: str, **kw: Any
) -> Callable[[F], F]:
    """A flag for one settings field: no click default, so unset flags fall back to the
    environment and then the model's default, which --help shows."""
    info = model.model_fields[field]
    prefix = model.model_config.get("env_prefix", "")
    alias = info.validation_alias
    env = alias.choices[0] if isinstance(alias, AliasChoices) else f"{prefix}{field}".upper()
    default = info.default
    shown = "none" if default is None else str(default)
    return click.option(
        *decls, field, default=None, show_default=shown, help=f"{help} [env: {env}]", **kw
    )


def build(model: type[S], **flags: Any) -> S:
    """Settings from flags that were given (None means not given), env and defaults."""
    try:
        return model(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise click.UsageError(f"invalid setting: {exc}") from exc


def broker_option(func: F) -> F:
    return setting(
        AppSettings,
        "broker",
        "--broker",
        help="Which broker to use.",
        type=click.Choice(BROKER_NAMES),
    )(func)


def data_dir_option(func: F) -> F:
    return setting(
        DataSettings,
        "data_dir",
        "--data-dir",
        help="Folder with the four Fashion-MNIST IDX files.",
        type=click.Path(path_type=Path, file_okay=False),
    )(func)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FashionPubSubError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings=CONTEXT)
@click.option(
    "--log-level",
    default="INFO",
    envvar="FASHION_PUBSUB_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Log level.",
)
@click.version_option(package_name="fashion-pubsub")
def main(log_level: str) -> None:
    """Fashion-MNIST classification over Apache Kafka or Google Cloud Pub/Sub."""
    from fashion_pubsub.logs import configure_logging

    configure_logging(log_level)


# -- infra ------------------------------------------------------------------------------


@main.group(context_settings=CONTEXT)
def infra() -> None:
    """Start, stop and inspect the local Kafka broker and Pub/Sub emulator."""


def _infra_options(func: F) -> F:
    func = click.option(
        "--service",
        type=click.Choice(["all", "kafka", "pubsub"]),
        default="all",
        help="Which service.",
    )(func)
    func = setting(
        InfraSettings,
        "state_dir",
        "--state-dir",
        help="PID files, logs, data.",
        type=click.Path(path_type=Path),
    )(func)
    func = setting(InfraSettings, "kafka_port", "--kafka-port", help="Kafka port.", type=int)(func)
    return setting(
        InfraSettings, "emulator_port", "--emulator-port", help="Pub/Sub emulator port.", type=int
    )(func)


@infra.command("up", context_settings=CONTEXT)
@_infra_options
def infra_up(service: str, **flags: Any) -> None:
    """Start the services that are not running yet and wait until they answer."""
    from fashion_pubsub.infra.services import start_services

    for status in start_services(build(InfraSettings, **flags), service):
        click.echo(status.describe())


@infra.command("down", context_settings=CONTEXT)
@_infra_options
def infra_down(service: str, **flags: Any) -> None:
    """Stop the services that `infra up` started, by PID."""
    from fashion_pubsub.infra.services import stop_services

    for status in stop_services(build(InfraSettings, **flags), service):
        click.echo(status.describe())


@infra.command("status", context_settings=CONTEXT)
@_infra_options
def infra_status(service: str, **flags: Any) -> None:
    """Say what runs where."""
    from fashion_pubsub.infra.services import service_statuses

    for status in service_statuses(build(InfraSettings, **flags), service):
        click.echo(status.describe())


# -- data -------------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@click.option(
    "--images",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="IDX images file [default: the test images in --data-dir]",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="IDX labels file [default: the test labels in --data-dir]",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the PNGs (created if missing).",
)
@click.option("--start", type=int, default=0, help="First index.")
@click.option("--end", type=int, default=4, help="Last index, inclusive (as ubyte_to_png.py).")
@data_dir_option
def convert(
    images: Path | None,
    labels: Path | None,
    output: Path,
    start: int,
    end: int,
    data_dir: Path | None,
) -> None:
    """Write images START..END of an IDX file as <index>.png, true label kept inside."""
    from fashion_pubsub.data.convert import convert_range
    from fashion_pubsub.data.dataset import split_paths

    if images is None or labels is None:
        default_images, default_labels = split_paths(
            build(DataSettings, data_dir=data_dir).data_dir, "test"
        )
        images, labels = images or default_images, labels or default_labels
    written = convert_range(images, labels, output, start, end, progress=True)
    click.echo(f"wrote {written} images to {output}")


@main.command("fetch-data", context_settings=CONTEXT)
@data_dir_option
@click.option(
    "--base-url", default=None, help="Mirror to download from [default: Zalando's official URL]"
)
def fetch_data(data_dir: Path | None, base_url: str | None) -> None:
    """Download the four Fashion-MNIST files and verify their md5 sums."""
    from fashion_pubsub.data.fetch import OFFICIAL_BASE_URL, fetch_dataset

    target = build(DataSettings, data_dir=data_dir).data_dir
    for path in fetch_dataset(target, base_url or OFFICIAL_BASE_URL, progress=True):
        click.echo(f"ok {path}")


# -- brokers --------------------------------------------------------------------------


def broker_settings_options(func: F) -> F:
    """Flags for reaching Kafka and Pub/Sub (each also settable by environment)."""
    func = setting(
        KafkaSettings, "bootstrap", "--kafka-bootstrap", help="Kafka bootstrap servers."
    )(func)
    func = setting(
        KafkaSettings,
        "partitions",
        "--kafka-partitions",
        type=int,
        help="Partitions of new Kafka topics.",
    )(func)
    func = setting(
        KafkaSettings,
        "client_properties",
        "--kafka-client-properties",
        type=click.Path(path_type=Path, dir_okay=False, exists=True),
        help="librdkafka properties file (SASL/TLS for a real cluster).",
    )(func)
    func = setting(
        PubSubSettings, "project_id", "--pubsub-project", help="Google Cloud project id."
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
            client_properties=flags.pop("client_properties", None),
        ),
        build(
            PubSubSettings,
            project_id=flags.pop("project_id", None),
            emulator_host=flags.pop("emulator_host", None),
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


# -- pipeline -------------------------------------------------------------------------


def _folder(model: type[BaseSettings], field: str, flag: str, help: str) -> Callable[[F], F]:
    return setting(model, field, flag, help=help, type=click.Path(path_type=Path, file_okay=False))


@main.command(context_settings=CONTEXT)
@broker_option
@_folder(PublisherSettings, "input_dir", "--input", "Folder to watch for images.")
@_folder(PublisherSettings, "published_dir", "--published", "Where published files go.")
@_folder(
    PublisherSettings, "rejected_dir", "--rejected", "Where unusable files go, with a .reason note."
)
@setting(
    PublisherSettings, "batch_size", "--batch-size", type=int, help="Most files per broker batch."
)
@setting(
    PublisherSettings,
    "max_wait_seconds",
    "--max-wait",
    type=float,
    help="Seconds to wait for a batch to fill.",
)
@broker_settings_options
def publish(
    broker: str | None,
    input_dir: Path | None,
    published_dir: Path | None,
    rejected_dir: Path | None,
    batch_size: int | None,
    max_wait_seconds: float | None,
    **flags: Any,
) -> None:
    """Publish images dropped into --input to the input topic (the old publisher.py)."""
    from fashion_pubsub.pipeline.service import run_publisher

    settings = build(
        PublisherSettings,
        input_dir=input_dir,
        published_dir=published_dir,
        rejected_dir=rejected_dir,
        batch_size=batch_size,
        max_wait_seconds=max_wait_seconds,
    )
    stats = run_publisher(build_broker(broker, flags), build(TopicSettings), settings)
    click.echo(f"published {stats.published}, rejected {stats.rejected}")


@main.command(context_settings=CONTEXT)
@broker_option
@_folder(SubscriberSettings, "output_dir", "--output", "Folder for <stem>-<Class>.png files.")
@setting(SubscriberSettings, "url", "--url", help="TF Serving predict URL of the model.")
@setting(
    SubscriberSettings,
    "results",
    "--results",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Results log [default: <output>/results.jsonl]",
)
@setting(
    SubscriberSettings,
    "batch_size",
    "--batch-size",
    type=int,
    help="Most messages per predict request.",
)
@setting(
    SubscriberSettings,
    "max_wait_seconds",
    "--max-wait",
    type=float,
    help="Seconds to wait for a batch to fill.",
)
@broker_settings_options
def subscribe(
    broker: str | None,
    output_dir: Path | None,
    url: str | None,
    results: Path | None,
    batch_size: int | None,
    max_wait_seconds: float | None,
    **flags: Any,
) -> None:
    """Classify images from the input topic and write the results (the old subscriber.py)."""
    from fashion_pubsub.pipeline.service import run_subscriber

    settings = build(
        SubscriberSettings,
        output_dir=output_dir,
        url=url,
        results=results,
        batch_size=batch_size,
        max_wait_seconds=max_wait_seconds,
    )
    stats = run_subscriber(build_broker(broker, flags), build(TopicSettings), settings)
    click.echo(f"predicted {stats.predicted}, dead-lettered {stats.dead_lettered}")


# -- model ----------------------------------------------------------------------------


@main.command(context_settings=CONTEXT)
@data_dir_option
@click.option(
    "--images",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Training images IDX file [default: the training images in --data-dir]",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Training labels IDX file [default: the training labels in --data-dir]",
)
@click.option(
    "--export",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("models/fashion-model"),
    help="Model base path for the new version.",
)
@click.option("--no-export", is_flag=True, help="Train and report only; write no version.")
@click.option("--epochs", type=click.IntRange(1), default=TrainConfig.epochs, help="Most epochs.")
@click.option("--seed", type=int, default=TrainConfig.seed, help="Random seed.")
@click.option(
    "--batch-size", type=click.IntRange(1), default=TrainConfig.batch_size, help="Images per step."
)
@click.option(
    "--validation-size",
    type=click.IntRange(1),
    default=TrainConfig.validation_size,
    help="Training images held out for model selection.",
)
@click.option(
    "--limit",
    type=click.IntRange(100),
    default=None,
    help="Train on only this many training images (quick runs).",
)
def train(
    data_dir: Path | None,
    images: Path | None,
    labels: Path | None,
    export: Path,
    no_export: bool,
    limit: int | None,
    **config: Any,
) -> None:
    """Train the classifier, evaluate it on the test set with ONNX Runtime, export a version."""
    from fashion_pubsub.model.workflow import run_training

    if (images is None) != (labels is None):
        raise click.UsageError("give both --images and --labels, or neither")
    report = run_training(
        build(DataSettings, data_dir=data_dir).data_dir,
        TrainConfig(limit=limit, **config),
        None if no_export else export,
        (images, labels) if images is not None and labels is not None else None,
    )
    click.echo(
        f"validation accuracy {report.trained.validation_accuracy:.4f} after "
        f"{report.trained.epochs_run} epochs in {report.trained.seconds:.0f} s"
    )
    click.echo(f"test accuracy {report.test.accuracy:.4f} (ONNX Runtime, 10,000 test images)")
    for name, value in report.test.per_class_accuracy.items():
        click.echo(f"  {name:<12} {value:.3f}")
    if report.version_dir is not None:
        click.echo(f"exported {report.version_dir}")


# -- demo and bench ---------------------------------------------------------------------


def _run_options(func: F) -> F:
    func = data_dir_option(func)
    func = click.option(
        "--workdir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("workdir"),
        help="Each run gets a new folder in here.",
    )(func)
    func = click.option(
        "--model-base-path",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path("models/fashion-model"),
        help="Model repository.",
    )(func)
    func = click.option(
        "--port",
        type=int,
        default=8501,
        help="Model server port (started there unless one answers).",
    )(func)
    func = click.option(
        "--timeout", type=float, default=900.0, help="Seconds to wait for all results of a run."
    )(func)
    return func


def _run_plan(
    broker: str | None,
    images: int,
    data_dir: Path | None,
    workdir: Path,
    model_base_path: Path,
    port: int,
    timeout: float,
    name: str,
    **extra: Any,
) -> Any:
    import time

    from fashion_pubsub.demo.runner import RunPlan

    return RunPlan(
        broker=build(AppSettings, broker=broker).broker,
        images=images,
        data_dir=build(DataSettings, data_dir=data_dir).data_dir,
        run_dir=(workdir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve(),
        model_base_path=model_base_path.resolve(),
        server_port=port,
        infra=build(InfraSettings),
        timeout_seconds=timeout,
        **extra,
    )


@main.command(context_settings=CONTEXT)
@broker_option
@click.option("--images", type=click.IntRange(1, 10_000), default=1000, help="Test images.")
@click.option(
    "--subscribers",
    type=click.IntRange(1, 8),
    default=1,
    help="Subscriber processes sharing the work.",
)
@click.option("--live/--no-live", default=None, help="Live progress view [default: on a terminal]")
@_run_options
def demo(images: int, subscribers: int, live: bool | None, **options: Any) -> None:
    """Run the whole pipeline on test images: start what is missing, publish, classify,
    summarise, write an HTML report; stop what it started."""
    from rich.console import Console

    from fashion_pubsub.demo.command import run_demo

    console = Console()
    from fashion_pubsub.demo.runner import run_topics

    plan = _run_plan(
        images=images,
        name="demo",
        subscribers=subscribers,
        topics=run_topics("demo"),
        live=console.is_terminal if live is None else live,
        **options,
    )
    run_demo(plan, console)


@main.command(context_settings=CONTEXT)
@click.option(
    "--brokers", default="apache-kafka,google-pubsub", help="Comma-separated brokers to measure."
)
@click.option(
    "--images",
    type=click.IntRange(1, 10_000),
    default=10_000,
    help="Images for the full-speed run.",
)
@click.option(
    "--baseline-images",
    type=click.IntRange(1, 10_000),
    default=2000,
    help="Images for the old design's path.",
)
@click.option(
    "--paced-images",
    type=click.IntRange(1, 10_000),
    default=3000,
    help="Images for the latency run at half the maximum rate.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("bench/results/pipeline.json"),
    help="JSON figures (and .md beside).",
)
@_run_options
def bench(
    brokers: str, images: int, baseline_images: int, paced_images: int, output: Path, **options: Any
) -> None:
    """Measure the pipeline on each broker against the old design's data path."""
    from fashion_pubsub.demo.bench import BenchPlan, run_bench, write_outputs

    names = tuple(b.strip() for b in brokers.split(",") if b.strip())
    unknown = [b for b in names if b not in BROKER_NAMES]
    if unknown:
        raise click.UsageError(f"unknown broker(s) {unknown}; choose from {BROKER_NAMES}")
    plan = BenchPlan(
        base=_run_plan(broker=None, images=images, name="bench", **options),
        brokers=names,  # type: ignore[arg-type]
        images=images,
        baseline_images=baseline_images,
        paced_images=paced_images,
    )
    click.echo(write_outputs(run_bench(plan), output))
    click.echo(f"figures written to {output} and {output.with_suffix('.md')}")


# -- serve ----------------------------------------------------------------------------


def _server_flag(field: str, help: str, **kw: Any) -> Callable[[F], F]:
    """A ServerSettings flag under tensorflow_model_server's name, with dashes as well."""
    from fashion_pubsub.settings import ServerSettings

    return setting(
        ServerSettings, field, f"--{field}", f"--{field.replace('_', '-')}", help=help, **kw
    )


def _serve_options(func: F) -> F:
    from fashion_pubsub.settings import ServerSettings

    flags: list[tuple[str, str, dict[str, Any]]] = [
        ("model_name", "Model name in URLs (single-model mode).", {}),
        (
            "model_base_path",
            "Folder of numbered version folders (single-model mode).",
            {"type": click.Path(path_type=Path, file_okay=False)},
        ),
        (
            "model_config_file",
            "ModelServerConfig (text proto or JSON): several models, version policies and labels.",
            {"type": click.Path(path_type=Path, dir_okay=False, exists=True)},
        ),
        ("model_version_policy", "latest, latest:N, all or specific:1,2.", {}),
        (
            "file_system_poll_wait_seconds",
            "Seconds between polls of the base paths (0: scan once at start).",
            {"type": float},
        ),
        ("rest_api_host", "Address to bind; 0.0.0.0 exposes the server to the network.", {}),
        ("rest_api_port", "HTTP port.", {"type": int}),
        ("rest_api_num_threads", "Worker threads for large inferences.", {"type": int}),
        (
            "tensorflow_intra_op_parallelism",
            "ONNX Runtime intra-op threads (0: auto).",
            {"type": int},
        ),
        ("max_body_bytes", "Largest request body accepted (413 above).", {"type": int}),
        ("max_batch_size", "Most images per batched inference.", {"type": int}),
        ("batch_timeout_micros", "Longest wait for a batch to fill.", {"type": int}),
    ]
    for field, help, kw in reversed(flags):
        func = _server_flag(field, help, **kw)(func)
    return setting(
        ServerSettings,
        "enable_batching",
        "--enable_batching/--disable_batching",
        "--enable-batching/--disable-batching",
        help="Merge concurrent requests into shared inferences (measured faster).",
    )(func)


@main.command(context_settings=CONTEXT)
@_serve_options
@click.option(
    "--port",
    "--grpc_port",
    "grpc_port",
    type=int,
    default=None,
    help="tensorflow_model_server's gRPC port: accepted, not served (REST only).",
)
def serve(grpc_port: int | None, **flags: Any) -> None:
    """Serve models over TF Serving's REST API and the Open Inference Protocol (KServe V2)."""
    from fashion_pubsub.serving.app import serve as run_server
    from fashion_pubsub.settings import ServerSettings

    if grpc_port is not None:
        click.echo(
            f"note: --port {grpc_port} (gRPC) is ignored; this server speaks REST only", err=True
        )
    run_server(build(ServerSettings, **flags))


# -- subcommands added by later issues go above this line --------------------------------
