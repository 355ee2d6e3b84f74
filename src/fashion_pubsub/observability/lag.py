"""Keeps the subscriber's consumer-lag gauge up to date from a background thread, so a
scrape never waits for the broker."""

import logging
import threading
from typing import Self

from prometheus_client import Gauge

from fashion_pubsub.brokers.base import LagReader
from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.closing import Closeable
from fashion_pubsub.logs import log_event

logger = logging.getLogger(__name__)


class LagMonitor(Closeable):
    """Reads the lag every `interval` seconds into `gauge` (labels topic, partition, group).

    Args:
        reader: the broker's lag reader (closed with the monitor).
        gauge: the gauge to set.
        interval: seconds between reads.
    """

    def __init__(self, reader: LagReader, gauge: Gauge, interval: float = 2.0) -> None:
        self._reader = reader
        self._gauge = gauge
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-monitor", daemon=True)
        self._failing = False

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and close the reader."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._reader.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.update()
            self._stop.wait(self._interval)

    def update(self) -> None:
        """Read the lag once and set the gauge; a broker that does not answer is logged
        once per outage and leaves the last figures in place."""
        try:
            lags = self._reader.read()
        except BrokerError as exc:
            if not self._failing:
                log_event(logger, "consumer_lag_unknown", logging.WARNING, error=exc)
            self._failing = True
            return
        self._failing = False
        for lag in lags:
            self._gauge.labels(lag.topic, str(lag.partition), lag.group).set(lag.messages)
