"""Errors of a demo or bench run.

FashionPubSubError
 └── DemoError
      └── RunTimeoutError   not every image had a result before the run's time limit
"""

from fashion_pubsub.errors import FashionPubSubError


class DemoError(FashionPubSubError):
    """A demo or bench run could not finish."""


class RunTimeoutError(DemoError):
    """Not every image had a result before the run's time limit."""
