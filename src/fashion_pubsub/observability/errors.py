"""Errors of the observability endpoints.

FashionPubSubError
 └── ObservabilityError
      └── MetricsPortError     the metrics port cannot be opened (taken, or not allowed)
"""

from fashion_pubsub.errors import FashionPubSubError


class ObservabilityError(FashionPubSubError):
    """A metrics or health endpoint cannot work."""


class MetricsPortError(ObservabilityError):
    """The metrics port cannot be opened; the message names the port and the fix."""
