"""Structured logging: one line per event, `time level logger event key=value ...`."""

import logging
import sys
from typing import Any

_FIELDS = "fields"


class _EventFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields: dict[str, Any] = getattr(record, _FIELDS, {})
        if fields:
            line += " " + " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        return line


def _quote(value: Any) -> str:
    text = str(value)
    return repr(text) if (not text or any(c in text for c in " =\"'\n")) else text


def configure_logging(level: str = "INFO") -> None:
    """Send events to stderr, one line each; stdout stays free for command output."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _EventFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per request from the HTTP client would drown the pipeline's own events.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `event` with key=value fields, e.g. log_event(log, "published", file="3.png")."""
    logger.log(level, event, extra={_FIELDS: fields}, stacklevel=2)
