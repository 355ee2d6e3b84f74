"""Scraping the pipeline's metrics endpoints, as Prometheus would: each endpoint's text
format parsed by prometheus_client's parser into plain samples."""

from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    """One endpoint's answer: its samples, or why there are none.

    Args:
        url: the endpoint.
        samples: (sample name, labels) -> value.
        error: why the endpoint gave nothing (unreachable, not metrics); None if it did.
    """

    url: str
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.error is None

    def has(self, prefix: str) -> bool:
        """Whether any sample's name starts with `prefix` (which process this is)."""
        return any(name.startswith(prefix) for name, _ in self.samples)

    def total(self, name: str, **labels: str) -> float:
        """`name` summed over the series whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """`name` summed by the value of one label."""
        values: dict[str, float] = {}
        for (n, labels), value in self.samples.items():
            found = dict(labels).get(label)
            if n == name and found is not None:
                values[found] = values.get(found, 0.0) + value
        return values


def scrape(client: httpx.Client, url: str) -> Scrape:
    """Fetch and parse one endpoint; an unreachable or garbled one is reported, not raised."""
    try:
        response = client.get(url)
        response.raise_for_status()
        samples = {
            (sample.name, frozenset(sample.labels.items())): float(sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }
    except httpx.HTTPError as exc:
        return Scrape(url, error=f"{type(exc).__name__}: {exc}")
    except ValueError as exc:  # the parser's error for text that is not the format
        return Scrape(url, error=f"not Prometheus metrics: {exc}")
    return Scrape(url, samples)
