"""Errors about data files.

FashionPubSubError
 └── DataError
      ├── IdxFormatError      not a valid IDX file of the expected kind
      ├── DataNotFoundError   the files are not where any location says
      ├── ChecksumError       a download does not have the published md5 sum
      └── RangeError          --start/--end select no image of the file
"""

from fashion_pubsub.errors import FashionPubSubError


class DataError(FashionPubSubError):
    """A data file cannot be used."""


class IdxFormatError(DataError):
    """A file is not a valid IDX file of the expected kind (wrong magic, dims or length)."""


class DataNotFoundError(DataError):
    """The Fashion-MNIST files are not where any configured location says."""


class ChecksumError(DataError):
    """A downloaded file does not have the published md5 sum."""


class RangeError(DataError):
    """--start/--end do not select any image of the file."""
