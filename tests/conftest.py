"""Shared fixtures: the real Kafka broker and Pub/Sub emulator, started once per session
through the project's own launcher (fashion_pubsub.infra), and the real data set.

Set FASHION_PUBSUB_KAFKA_BOOTSTRAP or PUBSUB_EMULATOR_HOST to use a running service instead,
and FASHION_PUBSUB_KAFKA_CLUSTER_BOOTSTRAP for a running replicated cluster (tests that kill
a node then skip).
"""

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from fashion_pubsub.infra import kafka, pubsub_emulator
from fashion_pubsub.infra.ports import free_port, free_port_block
from fashion_pubsub.model.export import existing_versions
from fashion_pubsub.settings import InfraSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = ROOT.parent / "shared" / "data" / "fashion-mnist"
MODEL_BASE_PATH = ROOT / "models" / "fashion-model"


def served_model_version() -> Path:
    """The committed version the server serves by default: the newest."""
    return MODEL_BASE_PATH / str(max(existing_versions(MODEL_BASE_PATH)))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# Services (and data) the developer brought, read once before any test: `clean_environ`
# removes these variables for each test, and a session fixture first asked for through
# getfixturevalue (the pipeline's `lane`) would otherwise start a private broker instead.
_BRINGABLE = (
    "FASHION_PUBSUB_KAFKA_BOOTSTRAP",
    "FASHION_PUBSUB_KAFKA_CLUSTER_BOOTSTRAP",
    "PUBSUB_EMULATOR_HOST",
    "FASHION_PUBSUB_DATA_DIR",
)
_BROUGHT: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    # A CI timeout or `kill` sends SIGTERM: turn it into an interrupt so pytest still runs
    # the session fixtures' teardown and no broker JVM is left behind.
    signal.signal(signal.SIGTERM, _interrupt)
    for name in _BRINGABLE:
        if os.environ.get(name):
            _BROUGHT[name] = os.environ[name]


def pubsub_resource_names(
    emulator_host: str, project_id: str, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Full names of every topic and subscription of `project_id` in the emulator."""
    from google.cloud import pubsub_v1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator_host)
    project = f"projects/{project_id}"
    publisher = pubsub_v1.PublisherClient()
    with pubsub_v1.SubscriberClient() as subscriber:
        names = [t.name for t in publisher.list_topics(project=project)]
        names += [s.name for s in subscriber.list_subscriptions(project=project)]
    return names


def make_infra_settings(state_dir: Path) -> InfraSettings:
    """Infra settings for a private instance: own folder, own free ports, the repo's jars."""
    return InfraSettings(
        state_dir=state_dir,
        kafka_home=ROOT / ".cache" / "kafka",
        kafka_pom=ROOT / "infra" / "kafka" / "pom.xml",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        emulator_port=free_port(),
    )


@dataclass(frozen=True)
class KafkaCluster:
    """A replicated Kafka cluster for tests: its bootstrap servers, and the settings that
    started it (None when brought by FASHION_PUBSUB_KAFKA_CLUSTER_BOOTSTRAP: not ours to kill)."""

    bootstrap: str
    settings: InfraSettings | None


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three combined broker+controller KRaft nodes on free ports, in their own state
    folder, started by the project's launcher and stopped by PID at the end."""
    external = _BROUGHT.get("FASHION_PUBSUB_KAFKA_CLUSTER_BOOTSTRAP")
    if external:
        yield KafkaCluster(external, None)
        return
    base = free_port_block(6)
    settings = make_infra_settings(tmp_path_factory.mktemp("cluster")).model_copy(
        update={
            "kafka_port": base,
            "kafka_controller_port": base + 1,
            "kafka_nodes": 3,
            "start_timeout_seconds": 120.0,
        }
    )
    kafka.start(settings)
    try:
        yield KafkaCluster(kafka.address(settings), settings)
    finally:
        kafka.shutdown(settings)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real Fashion-MNIST files: FASHION_PUBSUB_DATA_DIR (which `make test` sets to
    ../shared or the Debian package), else ../shared/data/fashion-mnist."""
    folder = Path(_BROUGHT.get("FASHION_PUBSUB_DATA_DIR") or SHARED_DATA_DIR)
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(
            f"Fashion-MNIST not found at {folder}; put ../shared beside the repo, install "
            "the Debian package dataset-fashion-mnist, or set FASHION_PUBSUB_DATA_DIR"
        )
    return folder


@pytest.fixture(scope="session")
def infra_settings(tmp_path_factory: pytest.TempPathFactory) -> InfraSettings:
    return make_infra_settings(tmp_path_factory.mktemp("infra"))


@pytest.fixture(scope="session")
def kafka_bootstrap(infra_settings: InfraSettings) -> Iterator[str]:
    """host:port of a real Kafka broker (KRaft) for this test session."""
    yield from _brought_or_started("FASHION_PUBSUB_KAFKA_BOOTSTRAP", kafka, infra_settings)


@pytest.fixture(scope="session")
def pubsub_emulator_host(infra_settings: InfraSettings) -> Iterator[str]:
    """host:port of a real Pub/Sub emulator for this test session."""
    yield from _brought_or_started("PUBSUB_EMULATOR_HOST", pubsub_emulator, infra_settings)


def _brought_or_started(
    variable: str, service: ModuleType, settings: InfraSettings
) -> Iterator[str]:
    """The address in `variable` if the caller brought the service, else start a private
    one (an `infra` module: start, address, shutdown) and stop it by PID afterwards."""
    external = _BROUGHT.get(variable)
    if external:
        yield external
        return
    service.start(settings)
    try:
        yield service.address(settings)
    finally:
        service.shutdown(settings)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the project's environment variables, so settings are
    exactly what the test passes (the services brought are read before, in pytest_configure)."""
    for name in list(os.environ):
        if name.startswith(("ML_APP_", "FASHION_PUBSUB_")) or name == "PUBSUB_EMULATOR_HOST":
            monkeypatch.delenv(name)


@pytest.fixture
def other_file_system(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than tmp_path (tmpfs), removed afterwards: moves
    across file systems copy instead of renaming."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    folder = shm / f"fashion-pubsub-test-{uuid.uuid4().hex}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
