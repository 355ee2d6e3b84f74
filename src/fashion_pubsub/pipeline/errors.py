"""Errors of the pipeline.

FashionPubSubError
 └── PipelineError            an image or a message cannot be processed
      ├── RejectedFileError   a file is not a usable image: rejected/ with its reason
      ├── WireFormatError     a message is not a valid image message: dead letter
      └── HoldExpiredError    a batch held for the model server is given back (stopping)

Each carries what its handler needs: the file and reason for `rejected/`, the
message and reason for the dead-letter topic.
"""

from pathlib import Path

from fashion_pubsub.errors import FashionPubSubError


class PipelineError(FashionPubSubError):
    """An image or a message cannot be processed."""


class RejectedFileError(PipelineError):
    """A file in the input folder is not a usable image; it goes to rejected/."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason


class WireFormatError(PipelineError):
    """A message is not a valid image message; it goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HoldExpiredError(PipelineError):
    """A batch held while the model server is unavailable is given back unprocessed: the
    subscriber is stopping. (An outage alone never ends a hold: see the subscriber.)"""
