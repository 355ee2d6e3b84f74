"""Structured logging: one line per event, `time level logger event key=value ...`."""

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

_FIELDS = "fields"
T = TypeVar("T")


class _EventFormatter(logging.Formatter):
    """One line per event, whatever the values hold: a file name with `\r` or `\n` in it
    cannot start a line of its own (a forged event), since every value, and the message,
    shows such characters escaped. A traceback, appended after, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = _escaped(record.message)
        line = super().formatMessage(record)
        fields: dict[str, Any] = getattr(record, _FIELDS, {})
        if fields:
            line += " " + " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        return line


def _quote(value: Any) -> str:
    text = str(value)
    if not text or not text.isprintable() or any(c in text for c in " =\"'\\"):
        return repr(text)  # escapes control, separator and lone-surrogate characters
    return text


def _escaped(text: str) -> str:
    """`text` with each character that is not printable (line breaks, escapes, lone
    surrogates from a file name that is not UTF-8) written as Python writes it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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


def log_each_at_debug(
    logger: logging.Logger,
    event: str,
    items: Iterable[T],
    fields: Callable[[T], dict[str, Any]],
) -> None:
    """At DEBUG, one `event` line per item with `fields(item)`; otherwise nothing is built,
    not even the fields (the pipeline passes thousands of images a second here).

    Args:
        logger: the caller's logger.
        event: the snake_case event name.
        items: one line each.
        fields: an item's key=value fields.
    """
    if not logger.isEnabledFor(logging.DEBUG):
        return
    for item in items:
        log_event(logger, event, logging.DEBUG, **fields(item))
