"""The pipeline fixtures (one isolated lane per test, a model server per session)."""

from tests.integration.pipeline.conftest import lane, model_server

__all__ = ["lane", "model_server"]
