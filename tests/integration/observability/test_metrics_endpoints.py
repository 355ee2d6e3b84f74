"""`publish` and `subscribe` serve /metrics, /healthz and /readyz; the figures move as
images flow, read with Prometheus' own text parser."""

from collections import Counter
from pathlib import Path

import pytest

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.data.convert import png_bytes
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.observability.metrics import STAGES
from fashion_pubsub.pipeline.wire import encode
from tests.conftest import free_port
from tests.integration.observability.scrape import answers, labelled, scrape, total, wait_for
from tests.integration.pipeline.conftest import Lane

pytestmark = pytest.mark.kafka

IMAGES = 24


@pytest.mark.parametrize("lane", ["apache-kafka"], indirect=True)
def test_counts_latencies_and_model_version_move_as_images_flow(lane: Lane, data_dir: Path) -> None:
    pub_port, sub_port = free_port(), free_port()
    pub, sub = f"http://127.0.0.1:{pub_port}", f"http://127.0.0.1:{sub_port}"
    lane.subscriber(extra=["--metrics-port", str(sub_port)])
    lane.publisher(extra=["--metrics-port", str(pub_port)])
    wait_for(lambda: answers(f"{sub}/readyz") and answers(f"{pub}/readyz"), lane.logs())
    assert answers(f"{sub}/healthz") and answers(f"{pub}/healthz")
    before = scrape(f"{sub}/metrics")
    assert total(before, "fashion_subscriber_images_predicted_total") == 0
    assert len(labelled(before, "fashion_subscriber_images_predicted_total", "class_name")) == 10

    test = load_split(data_dir, "test")
    inbox = lane.folder("input")
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(IMAGES):
        (inbox / f"{i}.png").write_bytes(png_bytes(test.images[i], int(test.labels[i])))
    (inbox / "empty.png").write_bytes(b"")
    records = lane.wait_for_records(IMAGES)

    wait_for(
        lambda: total(scrape(f"{pub}/metrics"), "fashion_publisher_images_rejected_total") == 1,
        "the empty file counted as rejected",
    )
    published = scrape(f"{pub}/metrics")
    assert total(published, "fashion_publisher_images_published_total") == IMAGES
    assert labelled(published, "fashion_publisher_images_rejected_total", "reason") == {
        "empty_file": 1
    }
    assert total(published, "fashion_publisher_batch_size_images_sum") == IMAGES

    wait_for(
        lambda: (
            total(scrape(f"{sub}/metrics"), "fashion_subscriber_images_predicted_total") == IMAGES
        ),
        "every image counted as predicted",
    )
    after = scrape(f"{sub}/metrics")
    by_class = labelled(after, "fashion_subscriber_images_predicted_total", "class_name")
    expected = Counter(str(r["predicted_class"]) for r in records)
    assert {k: v for k, v in by_class.items() if v} == expected
    for stage in STAGES:  # every stage of every image's record
        count = "fashion_subscriber_stage_latency_seconds_count"
        assert total(after, count, stage=stage) == IMAGES
    assert total(after, "fashion_subscriber_batch_size_images_sum") == IMAGES
    versions = labelled(after, "fashion_subscriber_model_version_info", "version")
    assert versions == {str(records[0]["model_version"]): 1}

    poison = OutgoingMessage(key="poison", payload=b"not pixels", attributes={"schema": "1"})
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish([poison]))
    wait_for(
        lambda: (
            total(scrape(f"{sub}/metrics"), "fashion_subscriber_messages_dead_lettered_total") == 1
        ),
        "the poison message counted as dead-lettered",
    )
    reasons = labelled(
        scrape(f"{sub}/metrics"), "fashion_subscriber_messages_dead_lettered_total", "reason"
    )
    assert reasons == {"missing_attribute": 1}
    wait_for(
        lambda: total(scrape(f"{sub}/metrics"), "fashion_subscriber_consumer_lag_messages") == 0,
        "the group has committed everything",
    )


@pytest.mark.parametrize("lane", ["apache-kafka"], indirect=True)
def test_a_subscriber_started_by_hand_reports_its_consumer_lag(lane: Lane, data_dir: Path) -> None:
    """Messages wait on the topic while the model server is down: the subscriber says how
    many per partition, and that it is not ready."""
    test = load_split(data_dir, "test")
    messages = [encode(test.images[i], f"{i}.png", None, 1.0, 1.0) for i in range(30)]
    with lane.broker().publisher(lane.topics.input_topic) as publisher:
        assert all(r.ok for r in publisher.publish(messages))
    port = free_port()
    nowhere = f"http://127.0.0.1:{free_port()}/v1/models/fashion-model:predict"
    lane.subscriber(url=nowhere, extra=["--metrics-port", str(port)])
    metrics = f"http://127.0.0.1:{port}/metrics"
    wait_for(lambda: answers(metrics), lane.logs())
    lag = "fashion_subscriber_consumer_lag_messages"
    wait_for(lambda: total(scrape(metrics), lag) == 30, "lag of all 30 messages")
    partitions = labelled(scrape(metrics), lag, "partition")
    assert len(partitions) == 6
    assert sum(partitions.values()) == 30
    assert answers(f"http://127.0.0.1:{port}/readyz", 503)
    assert answers(f"http://127.0.0.1:{port}/healthz")
