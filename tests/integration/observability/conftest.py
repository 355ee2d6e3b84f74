"""The pipeline fixtures (one isolated lane per test, a model server per session)."""

from ...pipeline.conftest import expected_labels, lane, model_server  # noqa: F401 - fixtures
