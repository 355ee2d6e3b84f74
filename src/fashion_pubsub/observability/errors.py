"""Errors of the observability endpoints.

FashionPubSubError
 └── ObservabilityError
      ├── MetricsPortError     the metrics port cannot be opened (taken, or not allowed)
      └── TraceparentError     a traceparent attribute is not W3C Trace Context
"""

from fashion_pubsub.errors import FashionPubSubError


class ObservabilityError(FashionPubSubError):
    """A metrics or health endpoint cannot work."""


class MetricsPortError(ObservabilityError):
    """The metrics port cannot be opened; the message names the port and the fix."""


class TraceparentError(ObservabilityError):
    """A `traceparent` value is not a valid W3C Trace Context header.

    Args:
        value: the value received (shortened for logs).
        reason: what is wrong with it.
    """

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"traceparent {value[:80]!r}: {reason}")
        self.value = value
        self.reason = reason
