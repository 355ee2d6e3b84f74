"""The request-pace bench's own arithmetic: CPU read from /proc, figures per request."""

import os
import time

from fashion_pubsub.bench.request_pace import Phase, process_cpu_seconds


def test_cpu_seconds_of_a_process_grow_with_its_work() -> None:
    before = process_cpu_seconds(os.getpid())
    busy_until = time.process_time() + 0.3
    while time.process_time() < busy_until:
        pass
    # /proc counts in clock ticks (10 ms), so allow for the rounding
    assert process_cpu_seconds(os.getpid()) - before >= 0.25


def test_a_phase_reports_cpu_per_request_and_the_latency_percentiles() -> None:
    phase = Phase(
        rate=250.0,
        requests=1000,
        server_cpu=1.5,
        client_cpu=0.5,
        latencies=[0.001] * 980 + [0.010] * 20,
    )
    assert phase.line() == (
        "        250/s: 1000 requests, server 1,500 µs CPU each, client 500, p50 1.00 ms, p99 10.00"
    )


def test_a_phase_without_a_rate_is_back_to_back() -> None:
    phase = Phase(None, 10, 0.01, 0.002, [0.002] * 10)
    assert phase.line().strip().startswith("back to back: 10 requests, server 1,000 µs")
