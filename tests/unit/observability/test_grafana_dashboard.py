"""docs/grafana-dashboard.json asks only for metrics the three processes export."""

import json
import re

from prometheus_client import CollectorRegistry

from fashion_pubsub.observability.metrics import PublisherMetrics, SubscriberMetrics
from fashion_pubsub.serving.metrics import ServerMetrics
from tests.conftest import ROOT

_NAME = re.compile(r"\bfashion_[a-z_]+")


def _exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_every_metric_in_the_grafana_dashboard_exists() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    asked = {name for query in queries for name in _NAME.findall(query)}
    exported = (
        _exported(PublisherMetrics().registry)
        | _exported(SubscriberMetrics().registry)
        | _exported(ServerMetrics.create().registry)
    )
    assert asked, "no fashion_ metrics found in the dashboard"
    assert asked <= exported, sorted(asked - exported)


def test_the_documented_metrics_table_matches_what_is_exported() -> None:
    text = (ROOT / "docs" / "observability.md").read_text()
    documented = set(re.findall(r"`(fashion_(?:publisher|subscriber)_[a-z_]+)`", text))
    exported = _exported(PublisherMetrics().registry) | _exported(SubscriberMetrics().registry)
    assert documented <= exported, sorted(documented - exported)
    families = {
        f.name + ("_total" if f.type == "counter" else "")
        for m in (PublisherMetrics(), SubscriberMetrics())
        for f in m.registry.collect()
    }
    assert families <= documented, sorted(families - documented)
