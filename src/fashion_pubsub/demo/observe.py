"""The run's metrics endpoints and its dashboard: each process gets a free metrics port,
and `fashion-pubsub dashboard` is started on them like any deployment's would be (it
scrapes their endpoints and reads the run's topics, not the demo's internals)."""

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fashion_pubsub.demo.stack import Stack
from fashion_pubsub.infra.errors import StartError
from fashion_pubsub.infra.ports import free_port


@dataclass(frozen=True)
class MetricsPorts:
    """Metrics ports of the run's processes; all 0 (endpoints off) without a dashboard."""

    publisher: int
    subscribers: tuple[int, ...]

    @classmethod
    def allocate(cls, subscribers: int, enabled: bool) -> "MetricsPorts":
        if not enabled:
            return cls(0, (0,) * subscribers)
        return cls(free_port(), tuple(free_port() for _ in range(subscribers)))

    def urls(self) -> list[str]:
        ports = [self.publisher, *self.subscribers]
        return [f"http://127.0.0.1:{p}/metrics" for p in ports if p]


def dashboard_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"


def start_dashboard(
    stack: Stack,
    port: int,
    metrics_urls: list[str],
    folders: tuple[Path, Path],
    env: Mapping[str, str],
) -> None:
    """Start `fashion-pubsub dashboard` on `port` until the stack closes; wait until it answers.

    Raises:
        StartError: the port is taken, or the dashboard did not start.

    Args:
        stack: the run's stack.
        port: where the page is served.
        metrics_urls: every endpoint to scrape (the model server's included).
        folders: the subscribers' output folder (pictures) and the rejected folder.
        env: the run's broker and topics.
    """
    if _listening(port):
        raise StartError(
            f"port {port} is taken, so the dashboard cannot start there; pass "
            "--dashboard-port with another port, or 0 for no dashboard"
        )
    images, rejected = folders
    args = ["dashboard", "--port", str(port), "--images", str(images), "--rejected", str(rejected)]
    for url in metrics_urls:
        args += ["--metrics-url", url]
    stack.spawn("dashboard", args, env)
    stack.wait_until(lambda: _listening(port), "dashboard", f"the dashboard on port {port}")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
