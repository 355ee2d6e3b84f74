"""librdkafka's own log lines and error callbacks, through our structured log, with repeats
held back.

Left to itself librdkafka prints to stderr, and while a broker is down it printed
"Connection refused" about 20 times a second per client, drowning every other line. Here
each line becomes an event (`kafka_client_log`, `kafka_client_error`), and the same line
(numbers and parenthesised counts aside: ports, ms and counts vary) is logged at most
once per `interval` seconds; the next one says how many were held back (`suppressed=`).
"""

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

from fashion_pubsub.logs import log_event

logger = logging.getLogger("fashion_pubsub.brokers.librdkafka")

_DIGITS = re.compile(r"\d+")
# librdkafka adds "(after 0ms in state CONNECT, 3 identical error(s) suppressed)" and the like.
_COUNTS = re.compile(r"\([^()]*\d[^()]*\)")
_DEFAULT_INTERVAL_SECONDS = 30.0


class RepeatFilter:
    """Lets the first of a run of equal events through, then at most one per `interval`.

    Args:
        interval: seconds between two lines for the same event.
        clock: monotonic seconds (a test passes its own).
    """

    def __init__(
        self,
        interval: float = _DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()  # librdkafka callbacks come from any polling thread
        self._seen: dict[tuple[str, ...], tuple[float, int]] = {}

    def admit(self, *key: str) -> int | None:
        """None to hold this event back; else how many equal ones were held back before it."""
        normalised = tuple(_DIGITS.sub("#", _COUNTS.sub("", part)) for part in key)
        now = self._clock()
        with self._lock:
            last, held = self._seen.get(normalised, (float("-inf"), 0))
            if now - last < self._interval:
                self._seen[normalised] = (last, held + 1)
                return None
            self._seen[normalised] = (now, 0)
            return held


class _LibrdkafkaLogger:
    """What confluent-kafka calls as `logger.log(level, "%s [%s] %s", fac, name, text)`."""

    def __init__(self, repeats: RepeatFilter) -> None:
        self._repeats = repeats

    def log(self, level: int, message: str, *args: Any) -> None:
        if len(args) == 3:  # confluent-kafka's (facility, client name, text)
            facility, client, text = (str(a) for a in args)
        else:  # any other shape a later version may use: keep the whole line
            facility, client, text = "", "", message % args if args else message
        held = self._repeats.admit("log", facility, text)
        if held is None:
            return
        fields: dict[str, Any] = {"facility": facility, "client": client, "message": text}
        if held:
            fields["suppressed"] = held
        log_event(logger, "kafka_client_log", level, **fields)


def _error_callback(repeats: RepeatFilter) -> Callable[[KafkaError], None]:
    def on_error(error: KafkaError) -> None:
        held = repeats.admit("error", error.name(), error.str())
        if held is None:
            return
        fields: dict[str, Any] = {
            "code": error.name(),
            "retriable": error.retriable(),
            "message": error.str(),
        }
        if held:
            fields["suppressed"] = held
        level = logging.ERROR if error.fatal() else logging.WARNING
        log_event(logger, "kafka_client_error", level, **fields)

    return on_error


def client_log_config(repeats: RepeatFilter) -> dict[str, Any]:
    """The `logger` and `error_cb` settings for any confluent-kafka client (producer,
    consumer, admin); they are served by its poll, consume and flush calls."""
    return {"logger": _LibrdkafkaLogger(repeats), "error_cb": _error_callback(repeats)}
