"""Prometheus metrics at TF Serving's path, /monitoring/prometheus/metrics."""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
# The label of requests for models the server does not serve: clients may send any name.
UNKNOWN_MODEL = "_unknown"


@dataclass
class ServerMetrics:
    """The server's metrics in their own registry (one per app, so tests do not collide)."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    batch_size: Histogram
    loaded_versions: Gauge
    version_loaded: Gauge

    @classmethod
    def create(cls) -> "ServerMetrics":
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "fashion_serving_requests",
                "Requests by model, version, protocol and status",
                ["model", "version", "protocol", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "fashion_serving_request_latency_seconds",
                "Request latency",
                ["model", "protocol"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            batch_size=Histogram(
                "fashion_serving_batch_size",
                "Images per inference",
                ["model"],
                buckets=_BATCH_BUCKETS,
                registry=registry,
            ),
            loaded_versions=Gauge(
                "fashion_serving_loaded_versions",
                "Versions being served",
                ["model"],
                registry=registry,
            ),
            version_loaded=Gauge(
                "fashion_serving_version_loaded",
                "1 for each version being served",
                ["model", "version"],
                registry=registry,
            ),
        )

    def observe_request(
        self, model: str, version: str, protocol: str, status: str, seconds: float
    ) -> None:
        """Count one request and its latency; every protocol server calls this.

        Args:
            model: a served model's name, or UNKNOWN_MODEL (labels must stay bounded).
            version: the version that answered, or "".
            protocol: e.g. "tf_rest", "oip_rest".
            status: the protocol's status code as text ("200", "NOT_FOUND").
            seconds: time from request to response.
        """
        self.requests.labels(model, version, protocol, status).inc()
        self.latency.labels(model, protocol).observe(seconds)

    def record_versions(self, versions_by_model: dict[str, list[int]]) -> None:
        """Set the loaded-version gauges after the repository changed."""
        self.version_loaded.clear()
        for name, versions in versions_by_model.items():
            self.loaded_versions.labels(name).set(len(versions))
            for version in versions:
                self.version_loaded.labels(name, str(version)).set(1)
