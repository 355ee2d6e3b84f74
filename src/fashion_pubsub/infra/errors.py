"""Errors about local services: FashionPubSubError -> InfraError -> MissingToolError, StartError."""

from fashion_pubsub.errors import FashionPubSubError


class InfraError(FashionPubSubError):
    """A local service cannot be started, checked or stopped."""


class MissingToolError(InfraError):
    """Java, Maven or the Pub/Sub emulator is not installed; the message names the package."""


class StartError(InfraError):
    """A service was started but exited or did not answer in time; the message quotes its log."""
