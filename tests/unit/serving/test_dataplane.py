"""The protocol-neutral data plane that REST and gRPC both call: what a ModelRef
resolves to, readiness, metadata, and inference with an output filter."""

from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.serving.dataplane import DataPlane, InferRequest, ModelRef
from fashion_pubsub.serving.errors import (
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
)
from fashion_pubsub.serving.model_config import model_configs
from fashion_pubsub.serving.repository import ModelRepository
from fashion_pubsub.serving.runtime import OnnxModel
from tests.support.serving import MODEL, expected_probabilities, export_version, server_settings

pytestmark = pytest.mark.anyio


async def _plane(tmp_path: Path, versions: tuple[int, ...] = (1, 2)) -> DataPlane:
    base = tmp_path / "m"
    base.mkdir(parents=True, exist_ok=True)
    for version in versions:
        export_version(base, version)
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "m" '
        "model_version_policy { all {} } "
        'version_labels { key: "stable" value: 1 } }}'
    )
    settings = server_settings(base, model_config_file=config)
    repository = ModelRepository(model_configs(settings), loader=OnnxModel)
    await repository.poll()
    return DataPlane(repository)


async def test_a_ref_resolves_by_version_label_or_latest(tmp_path: Path) -> None:
    plane = await _plane(tmp_path)
    assert plane.model(ModelRef(MODEL)).version == 2
    assert plane.model(ModelRef(MODEL, version=1)).version == 1
    assert plane.model(ModelRef(MODEL, label="stable")).version == 1
    for ref in (ModelRef("other"), ModelRef(MODEL, 7), ModelRef(MODEL, label="canary")):
        with pytest.raises(ModelNotFoundError):
            plane.model(ref)
        assert plane.served_version(ref) is None


async def test_readiness_of_models_and_versions(tmp_path: Path) -> None:
    plane = await _plane(tmp_path)
    assert plane.live() and plane.ready()
    assert plane.model_ready(ModelRef(MODEL)) and plane.model_ready(ModelRef(MODEL, 1))
    assert not plane.model_ready(ModelRef(MODEL, 7))
    for ref in (ModelRef("other"), ModelRef(MODEL, label="canary")):
        with pytest.raises(ModelNotFoundError):
            plane.model_ready(ref)


async def test_nothing_loaded_yet_is_not_ready(tmp_path: Path) -> None:
    plane = await _plane(tmp_path, versions=())
    assert not plane.ready() and not plane.model_ready(ModelRef(MODEL))
    with pytest.raises(ModelNotReadyError):
        plane.model(ModelRef(MODEL))


async def test_metadata_and_status(tmp_path: Path) -> None:
    plane = await _plane(tmp_path)
    meta = plane.metadata(ModelRef(MODEL, label="stable"))
    assert (meta.name, meta.version, meta.versions) == (MODEL, 1, [1, 2])
    assert [s.name for s in meta.inputs] == ["images"]
    assert [s.name for s in meta.outputs] == ["probabilities"]
    assert [row.version for row in plane.status(ModelRef(MODEL))] == [2, 1]
    assert [row.version for row in plane.status(ModelRef(MODEL, label="stable"))] == [1]


async def test_infer_answers_from_the_version_named_and_filters_outputs(tmp_path: Path) -> None:
    plane = await _plane(tmp_path)
    images = np.random.default_rng(3).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    request = InferRequest(ModelRef(MODEL, label="stable"), {"images": images}, ("probabilities",))
    result = await plane.infer(request)
    assert (result.name, result.version) == (MODEL, 1)
    assert [spec.name for spec in result.specs()] == ["probabilities"]
    np.testing.assert_allclose(
        result.outputs["probabilities"], expected_probabilities(1, images), atol=1e-5
    )
    nested = InferRequest(ModelRef(MODEL), {"images": images.tolist()})
    np.testing.assert_allclose(
        (await plane.infer(nested)).outputs["probabilities"],
        expected_probabilities(2, images),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    ("inputs", "outputs", "fragment"),
    [
        ({"images": np.zeros((1, 28, 28))}, ("logits",), "unknown output"),
        ({"pixels": np.zeros((1, 28, 28))}, (), "images"),
        ({"images": [[1, 2], [3]]}, (), "rectangular"),
        ({"images": np.zeros((5000, 28, 28))}, (), "limit"),
    ],
)
async def test_bad_requests_raise_invalid_input(
    tmp_path: Path, inputs: dict[str, object], outputs: tuple[str, ...], fragment: str
) -> None:
    plane = await _plane(tmp_path)
    with pytest.raises(InvalidInputError, match=fragment):
        await plane.infer(InferRequest(ModelRef(MODEL), inputs, outputs))
