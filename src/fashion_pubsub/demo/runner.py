"""One run of the whole pipeline: services, topics, images in, results out, summary, report.

`demo` and `bench` both use it. The publisher and subscriber run as their own
processes (`fashion-pubsub publish` / `subscribe`), as a user would run them.
"""

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fashion_pubsub.brokers.base import Broker
from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.brokers.factory import create_broker
from fashion_pubsub.demo.errors import RunTimeoutError
from fashion_pubsub.demo.feeder import ImageFeeder
from fashion_pubsub.demo.observe import MetricsPorts, start_dashboard
from fashion_pubsub.demo.stack import Stack
from fashion_pubsub.demo.summary import (
    Outcome,
    ResultsTail,
    Summary,
    first_seen,
    from_arrivals,
    summarize,
)
from fashion_pubsub.infra import kafka, pubsub_emulator
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import (
    AppSettings,
    BrokerName,
    Delivery,
    InfraSettings,
    KafkaSettings,
    PubSubSettings,
    TopicSettings,
)

logger = logging.getLogger(__name__)
_SETTLE_SECONDS = 4.0


@dataclass(frozen=True)
class RunPlan:
    """What to run.

    Args:
        broker: which broker carries the images.
        images: how many test images (from index `first_index`).
        data_dir: the Fashion-MNIST files.
        run_dir: this run's folder (inputs, outputs, results, logs, report).
        model_base_path: the model repository the server loads.
        server_port: where the model server listens (started if nothing answers there).
        infra: the local broker's settings.
        subscribers: how many subscriber processes share the work.
        timeout_seconds: give up when not every image has a result by then.
        live: show the live progress table.
        first_index: index of the first test image.
        rate: drop images into the input folder at this many per second while the
            pipeline runs; None drops them all before it starts (a burst).
        discard_topics: delete the topics, subscriptions and group when the run ends
            (for topics of `TopicSettings.for_run`; never for shared ones such as `input-topic`).
        dashboard_port: serve the live dashboard there (processes get metrics ports);
            None: no dashboard, metrics endpoints off.
        linger_seconds: keep everything running this long after the last result, so
            the dashboard can still be looked at.
        delivery: the subscribers' `--delivery`; None: the broker's default.
    """

    broker: BrokerName
    images: int
    data_dir: Path
    run_dir: Path
    model_base_path: Path
    server_port: int
    infra: InfraSettings
    topics: TopicSettings = field(default_factory=TopicSettings)
    subscribers: int = 1
    timeout_seconds: float = 600.0
    live: bool = False
    first_index: int = 0
    rate: float | None = None
    discard_topics: bool = False
    dashboard_port: int | None = None
    linger_seconds: float = 0.0
    delivery: Delivery | None = None

    @property
    def predict_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/models/fashion-model:predict"

    @property
    def status_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/models/fashion-model"

    def folder(self, name: str) -> Path:
        return self.run_dir / name


@dataclass(frozen=True)
class RunResult:
    summary: Summary
    outcomes: list[Outcome]
    started: list[str]


def run_pipeline(plan: RunPlan) -> RunResult:
    """Run the pipeline on `plan.images` test images and return what came out."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    with Stack(plan.infra, plan.folder("logs")) as stack:
        stack.ensure_broker(plan.broker)
        stack.ensure_model_server(plan.status_url, plan.model_base_path, plan.server_port)
        env = _pipeline_env(plan)
        use_topics(plan, stack, broker_for(plan))
        total = plan.images
        feeder = ImageFeeder(plan.data_dir, plan.folder("input-images"), plan.first_index, total)
        results = [plan.folder(f"results-{i}.jsonl") for i in range(plan.subscribers)]
        ports = MetricsPorts.allocate(plan.subscribers, plan.dashboard_port is not None)
        for i, path in enumerate(results):
            metrics = ["--metrics-port", str(ports.subscribers[i])]
            stack.spawn(f"subscriber-{i}", [*_subscribe_args(plan, path), *metrics], env)
        publish = [*_publish_args(plan), "--metrics-port", str(ports.publisher)]
        if plan.dashboard_port is not None:
            _start_dashboard(plan, plan.dashboard_port, stack, ports, env)
        if plan.rate is not None:
            stack.spawn("publisher", publish, env)
        # Let the processes start and subscribers join their group first: the figures
        # should measure the pipeline, not a consumer group forming (about 3 s on Kafka).
        time.sleep(_SETTLE_SECONDS)
        if plan.rate is None:
            feeder.write_all()  # a burst: every file is there when the publisher starts
            stack.spawn("publisher", publish, env)
        else:
            feeder.start_paced(plan.rate)
        sources = {f"{i}.png" for i in range(plan.first_index, plan.first_index + total)}
        tail = _wait_for_results(plan, stack, ResultsTail(results, sources), total)
        time.sleep(plan.linger_seconds)
        started = list(stack.started)
    feeder.save_arrivals(plan.folder("arrivals.json"))
    # Every image counts, the first second's too; latency runs from the feeder's own
    # clock, taken as it put each file into the folder.
    outcomes = from_arrivals(list(tail.outcomes.values()), feeder.arrivals)
    rejected = count_files(plan.folder("rejected"))
    summary = summarize(outcomes, first_seen(outcomes), rejected=rejected)
    return RunResult(summary, outcomes, started)


def _start_dashboard(
    plan: RunPlan, port: int, stack: Stack, ports: MetricsPorts, env: dict[str, str]
) -> None:
    server = f"http://127.0.0.1:{plan.server_port}/monitoring/prometheus/metrics"
    folders = (plan.folder("predicted-images"), plan.folder("rejected"))
    start_dashboard(stack, port, [*ports.urls(), server], folders, env)


def use_topics(plan: RunPlan, stack: Stack, broker: Broker) -> None:
    """Create the run's topics; a run's own topics are deleted when its stack closes,
    after its processes stopped (else every run would leave its partitions behind)."""
    broker.ensure_topics()
    if plan.discard_topics:
        stack.on_close(lambda: _delete_topics(broker))


def _delete_topics(broker: Broker) -> None:
    try:
        broker.delete_topics()
    except BrokerError as exc:  # the figures and files are all there: say so and go on
        log_event(logger, "run_topics_not_deleted", logging.WARNING, error=exc)


def broker_for(plan: RunPlan, partitions: int | None = None) -> Broker:
    """The broker a run uses, reached at the local service's address."""
    kafka_settings = KafkaSettings(bootstrap=kafka.address(plan.infra))
    if partitions is not None:
        kafka_settings = kafka_settings.model_copy(update={"partitions": partitions})
    return create_broker(
        AppSettings(broker=plan.broker),
        kafka_settings,
        PubSubSettings(emulator_host=pubsub_emulator.address(plan.infra)),
        plan.topics,
    )


def _pipeline_env(plan: RunPlan) -> dict[str, str]:
    return {
        "ML_APP_BROKER": plan.broker,
        "FASHION_PUBSUB_KAFKA_BOOTSTRAP": kafka.address(plan.infra),
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.address(plan.infra),
        **plan.topics.as_environment(),
        **({"FASHION_PUBSUB_SUBSCRIBER_DELIVERY": plan.delivery} if plan.delivery else {}),
    }


def _subscribe_args(plan: RunPlan, results: Path) -> list[str]:
    return [
        "subscribe",
        "--output",
        str(plan.folder("predicted-images")),
        "--url",
        plan.predict_url,
        "--results",
        str(results),
    ]


def _publish_args(plan: RunPlan) -> list[str]:
    return [
        "publish",
        "--input",
        str(plan.folder("input-images")),
        "--published",
        str(plan.folder("published-images")),
        "--rejected",
        str(plan.folder("rejected")),
    ]


def _wait_for_results(plan: RunPlan, stack: Stack, tail: ResultsTail, total: int) -> ResultsTail:
    counts = Counts(expected=total, started=time.monotonic())
    deadline = counts.started + plan.timeout_seconds
    with LiveView(f"{plan.broker}: {total} images", plan.live) as view:
        while not counts.done:
            time.sleep(0.2)
            tail.poll()
            counts.predicted = len(tail.outcomes)
            counts.published = count_files(plan.folder("published-images"))
            counts.rejected = count_files(plan.folder("rejected"))
            view.update(counts)
            for name in stack.started:
                if name.startswith(("publisher", "subscriber")):
                    stack.check_alive(name)
            if time.monotonic() > deadline:
                raise RunTimeoutError(
                    f"only {counts.predicted} of {total} images had results after "
                    f"{plan.timeout_seconds:.0f}s; see the logs in {plan.folder('logs')}"
                )
    log_event(logger, "run_complete", images=counts.predicted, rejected=counts.rejected)
    return tail


# The live progress view: published, predicted, rejected, images/s.


@dataclass
class Counts:
    """Progress of a run, read from its folders and results log."""

    expected: int
    published: int = 0
    predicted: int = 0
    rejected: int = 0
    started: float = 0.0

    @property
    def done(self) -> bool:
        return self.predicted + self.rejected >= self.expected

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.predicted / elapsed if elapsed > 0 else 0.0


def count_files(folder: Path, suffix: str = "") -> int:
    """Files in `folder` (not hidden, not `.reason` notes), or 0 if it does not exist yet."""
    try:
        names = os.listdir(folder)  # names, not Paths: this runs five times a second
    except FileNotFoundError:
        return 0
    return sum(
        1
        for name in names
        if not name.startswith(".") and not name.endswith(".reason") and name.endswith(suffix)
    )


def _render(counts: Counts, title: str) -> Table:
    table = Table(title=title, min_width=60)
    for column in ("expected", "published", "predicted", "rejected", "images/s"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{counts.expected:,}",
        f"{counts.published:,}",
        f"{counts.predicted:,}",
        f"{counts.rejected:,}",
        f"{counts.rate():,.0f}",
    )
    return table


class LiveView:
    """A rich Live table on a terminal; silent when `enabled` is False (CI, pipes)."""

    def __init__(self, title: str, enabled: bool, console: Console | None = None) -> None:
        self._title = title
        self._live = Live(console=console, refresh_per_second=4) if enabled else None

    def __enter__(self) -> "LiveView":
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, counts: Counts) -> None:
        if self._live is not None:
            self._live.update(_render(counts, self._title))
