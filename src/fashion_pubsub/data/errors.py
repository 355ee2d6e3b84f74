"""Errors about data files: FashionPubSubError -> DataError -> IdxFormatError, DataNotFoundError."""

from fashion_pubsub.errors import FashionPubSubError


class DataError(FashionPubSubError):
    """A data file cannot be used."""


class IdxFormatError(DataError):
    """A file is not a valid IDX file of the expected kind (wrong magic, dims or length)."""


class DataNotFoundError(DataError):
    """The Fashion-MNIST files are not where any configured location says."""


class ChecksumError(DataError):
    """A downloaded file does not have the published md5 sum."""
