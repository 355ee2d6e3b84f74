"""The model server fixtures, shared with the other serving tests from tests/support/serving.py."""

from tests.support.serving import anyio_backend, client, model_base

__all__ = ["anyio_backend", "client", "model_base"]
