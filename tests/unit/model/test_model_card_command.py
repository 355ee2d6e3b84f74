"""`fashion-pubsub model-card` on the served version: the figures docs/model.md shows."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fashion_pubsub.cli import main
from tests.conftest import MODEL_BASE_PATH, served_model_version

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_model_card_draws_the_served_versions_figures(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["model-card", "--data-dir", str(data_dir), "--model-base-path", str(MODEL_BASE_PATH)]
        + ["--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    version = served_model_version()
    assert f"version {version.name}:" in result.output
    card = json.loads((tmp_path / "card.json").read_text())
    metadata = json.loads((version / "metadata.json").read_text())
    assert abs(card["test_accuracy"] - metadata["test_accuracy"]) < 1e-4
    assert 0.0 <= card["ece"] < 0.1
    assert card["worst_confusions"][0]["true"] == "Shirt"
    for name in card["files"]:
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)


def test_model_card_of_a_missing_version_says_so(data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["model-card", "--data-dir", str(data_dir), "--model-base-path", str(MODEL_BASE_PATH)]
        + ["--version", "99", "--out", str(tmp_path)],
    )
    assert result.exit_code != 0
    assert "has no model.onnx" in result.output
