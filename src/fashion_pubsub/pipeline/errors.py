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
from fashion_pubsub.files import FileIdentity


class PipelineError(FashionPubSubError):
    """An image or a message cannot be processed."""


class RejectedFileError(PipelineError):
    """A file in the input folder is not a usable image; it goes to rejected/.

    Args:
        path: the file.
        reason: why, for its `.reason` note.
        identity: the file as it was judged; only that file is moved.
        unfinished: the content may just not be complete yet (a writer still at work),
            so a file changed moments ago is looked at again before it is rejected.
    """

    def __init__(
        self,
        path: Path,
        reason: str,
        identity: FileIdentity | None = None,
        *,
        unfinished: bool = False,
    ) -> None:
        super().__init__(f"{path.name}: {reason}")
        self.path = path
        self.reason = reason
        self.identity = identity
        self.unfinished = unfinished


class WireFormatError(PipelineError):
    """A message is not a valid image message; it goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutputPathError(PipelineError):
    """No output name inside the output folder is free for an image."""


class ResultsWriteError(PipelineError):
    """The results log could not take a batch's records (disk full, say): the batch
    must not be acknowledged."""


class HoldExpiredError(PipelineError):
    """A batch held while the model server is unavailable is given back unprocessed: the
    subscriber is stopping. (An outage alone never ends a hold: see the subscriber.)"""
