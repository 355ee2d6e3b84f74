"""Reading a metrics endpoint the way Prometheus does: its text format, parsed by
prometheus_client's own parser."""

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample at `url`, keyed by sample name and labels."""
    response = httpx.get(url, timeout=5)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    """`name` by the value of one label."""
    return {dict(ls)[label]: v for (n, ls), v in samples.items() if n == name and label in dict(ls)}


def wait_for(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Poll until `check` holds (a deadline against hanging, not a speed assertion)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {seconds:.0f}s: {what}")
        time.sleep(0.2)


def answers(url: str, status: int = 200) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.HTTPError:
        return False
