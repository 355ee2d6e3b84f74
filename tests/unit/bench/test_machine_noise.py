"""The machine probe the latency bench takes before each rate."""

import pytest

from fashion_pubsub.bench import machine_noise


def test_the_probe_is_the_median_of_its_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = iter([30.0, 10.0, 21.25])
    monkeypatch.setattr(machine_noise, "workload_ms", lambda: next(samples))
    assert machine_noise.probe_ms(samples=3) == 21.2


def test_the_probe_times_real_work() -> None:
    assert machine_noise.probe_ms(samples=1) > 0.0
