"""Label values stay bounded, and the health endpoints answer as documented."""

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fashion_pubsub.infra.ports import free_port
from fashion_pubsub.observability.errors import MetricsPortError
from fashion_pubsub.observability.health import Health
from fashion_pubsub.observability.metrics import PublisherMetrics, SubscriberMetrics, reason_kind
from fashion_pubsub.observability.server import MetricsServer
from fashion_pubsub.pipeline.stats import Stats


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("empty file (0 bytes)", "empty_file"),
        ("damaged or truncated image (broken PNG chunk 'IDAT')", "damaged_or_truncated_image"),
        ("missing attribute(s) ['image_id']", "missing_attribute"),
        ("body has 5 bytes, 28x28 uint8 needs 784", "body_has"),
        ("true_label '12' is not a class 0-9", "true_label"),
        ("12 is a number first", "other"),
    ],
)
def test_reasons_become_short_kinds_without_names_or_numbers(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_stats_feed_the_publisher_metrics_with_reasons() -> None:
    stats = Stats(metrics=PublisherMetrics())
    stats.add(published=3, retries=1)
    stats.add_rejected("empty file (0 bytes)")
    assert (stats.published, stats.rejected, stats.retries) == (3, 1, 1)
    registry = stats.metrics.registry
    assert registry.get_sample_value("fashion_publisher_images_published_total") == 3
    assert (
        registry.get_sample_value(
            "fashion_publisher_images_rejected_total", {"reason": "empty_file"}
        )
        == 1
    )


def test_endpoint_serves_metrics_health_and_readiness() -> None:
    health = Health(("broker",))
    metrics = PublisherMetrics()
    with MetricsServer("127.0.0.1", free_port(), metrics.registry, health) as server:
        assert server.url is not None
        base = server.url.removesuffix("/metrics")
        families = {f.name for f in text_string_to_metric_families(httpx.get(server.url).text)}
        assert "fashion_publisher_images_published" in families
        assert httpx.get(f"{base}/healthz").status_code == 200
        not_ready = httpx.get(f"{base}/readyz")
        assert (not_ready.status_code, not_ready.json()["checks"]) == (503, {"broker": False})
        health.report("broker", True)
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/nothing").status_code == 404


def test_a_taken_port_is_a_clear_error_and_zero_turns_the_endpoint_off() -> None:
    health, metrics = Health(()), PublisherMetrics()
    with MetricsServer("127.0.0.1", free_port(), metrics.registry, health) as first:
        assert first.url is not None
        port = int(first.url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(MetricsPortError, match="--metrics-port"):
            MetricsServer("127.0.0.1", port, metrics.registry, health).start()
    with MetricsServer("127.0.0.1", 0, metrics.registry, health) as off:
        assert off.url is None


def test_records_count_by_class_and_feed_the_latency_histograms() -> None:
    metrics = SubscriberMetrics()
    stats = Stats(metrics=metrics)
    records = [
        {"predicted_class": "Bag", "latency_ms": {"broker": 2.0, "end_to_end": 30.0}},
        {"predicted_class": "Bag", "latency_ms": {"broker": 1.0, "end_to_end": 20.0}},
        {"predicted_class": "Coat", "latency_ms": {"broker": "x", "batch": True}},
    ]
    stats.add_predicted(records)
    registry = metrics.registry
    predicted = "fashion_subscriber_images_predicted_total"
    assert registry.get_sample_value(predicted, {"class_name": "Bag"}) == 2
    assert registry.get_sample_value(predicted, {"class_name": "Coat"}) == 1
    assert registry.get_sample_value(predicted, {"class_name": "Shirt"}) == 0
    latency = "fashion_subscriber_stage_latency_seconds"
    assert registry.get_sample_value(f"{latency}_count", {"stage": "end_to_end"}) == 2
    assert registry.get_sample_value(f"{latency}_sum", {"stage": "end_to_end"}) == 0.05
    assert registry.get_sample_value(f"{latency}_count", {"stage": "broker"}) == 2
    assert registry.get_sample_value(f"{latency}_count", {"stage": "batch"}) is None
    assert stats.predicted == 3
