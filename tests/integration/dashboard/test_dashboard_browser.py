"""The dashboard in a real browser while a pipeline runs: no console errors, counters that
rise, pictures in the gallery, a dead letter with its reason, a screenshot kept."""

from pathlib import Path
from typing import Any

import pytest

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.data.convert import png_bytes
from fashion_pubsub.data.dataset import load_split
from tests.conftest import ROOT, free_port
from tests.integration.observability.scrape import answers, wait_for
from tests.integration.pipeline.conftest import Lane

pytestmark = pytest.mark.slow
# Kept after the run (CI uploads the folder); pytest's tmp folders are rotated away.
ARTIFACTS = ROOT / "test-artifacts"


def start_pipeline_and_dashboard(lane: Lane) -> str:
    """Publisher, subscriber and dashboard as a user starts them by hand; the page's URL."""
    pub, sub, page = free_port(), free_port(), free_port()
    server_metrics = lane.url.split("/v1/")[0] + "/monitoring/prometheus/metrics"
    lane.subscriber(extra=["--metrics-port", str(sub)])
    lane.publisher(extra=["--metrics-port", str(pub)])
    lane._spawn(
        "dashboard",
        [
            "dashboard",
            "--port",
            str(page),
            "--metrics-url",
            f"http://127.0.0.1:{pub}/metrics",
            "--metrics-url",
            f"http://127.0.0.1:{sub}/metrics",
            "--metrics-url",
            server_metrics,
            "--images",
            str(lane.folder("output")),
            "--rejected",
            str(lane.folder("rejected")),
        ],
    )
    url = f"http://127.0.0.1:{page}/"
    wait_for(lambda: answers(f"{url}api/snapshot"), lane.logs())
    wait_for(lambda: answers(f"http://127.0.0.1:{sub}/readyz"), lane.logs())
    return url


def counter(driver: Any, name: str) -> int:
    return int(driver.find_element("id", name).text.replace(",", "") or 0)


def test_the_page_follows_the_pipeline_live(lane: Lane, data_dir: Path, browser: Any) -> None:
    url = start_pipeline_and_dashboard(lane)
    browser.get(url)
    wait_for(lambda: browser.find_element("id", "connection").text == "live", "event stream")
    wait_for(lambda: "up" in browser.find_element("id", "model").text, "model server state")
    before = counter(browser, "predicted")

    test = load_split(data_dir, "test")
    inbox = lane.folder("input")
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(40):
        (inbox / f"{i}.png").write_bytes(png_bytes(test.images[i], int(test.labels[i])))
    (inbox / "empty.png").write_bytes(b"")
    wait_for(lambda: counter(browser, "predicted") >= before + 40, "predicted counter rises")
    assert counter(browser, "published") >= 40
    wait_for(
        lambda: (
            browser.execute_script(
                "return [...document.querySelectorAll('#gallery img')]"
                ".filter(i => i.complete && i.naturalWidth === 28).length"
            )
            > 0
        ),
        "a picture in the gallery",
    )
    wait_for(lambda: "empty file" in browser.find_element("id", "rejects").text, "a reject")

    poison = OutgoingMessage(key="poison", payload=b"\x00" * 5, attributes={"schema": "1"})
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish([poison]))
    wait_for(
        lambda: "missing attribute" in browser.find_element("id", "dead-letters").text,
        "the dead letter's reason",
    )
    wait_for(lambda: counter(browser, "dead_lettered") == 1, "dead-letter counter")
    lag = browser.find_element("id", "lag-title").text
    kafka = lane.broker_name == "apache-kafka"
    assert lag == ("consumer lag" if kafka else "estimate: published minus handled")

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / f"dashboard-{lane.broker_name}.png"
    browser.save_screenshot(str(screenshot))
    print(f"dashboard screenshot: {screenshot}")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
