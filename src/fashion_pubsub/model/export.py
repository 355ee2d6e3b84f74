"""Writing a model version the way TF Serving expects, atomically.

`<base>/<n>/` holds a TensorFlow SavedModel (so tensorflow_model_server can serve
the same folder), `model.onnx` (for our server), `metadata.json` and
`metrics.json`. The whole version is written into a hidden temporary folder
beside it and renamed into place: a server polling the base path sees either no
version `n` or all of it.
"""

import errno
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.model.errors import ExportError
from fashion_pubsub.model.network import INPUT_NAME, INPUT_SHAPE, OUTPUT_NAME

ONNX_OPSET = 17


def existing_versions(base_path: Path) -> list[int]:
    """Version numbers present under `base_path` (folders named by digits only)."""
    if not base_path.is_dir():
        return []
    return sorted(int(p.name) for p in base_path.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(base_path: Path) -> int:
    """Highest existing version + 1 (1 for an empty base path)."""
    return max(existing_versions(base_path), default=0) + 1


def files_sha256(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def metadata(version: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "fashion-model",
        "version": version,
        "classes": list(CLASS_NAMES),
        "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, *INPUT_SHAPE]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, 10]}],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def _staging_folder(base_path: Path) -> Path:
    base_path.mkdir(parents=True, exist_ok=True)
    return base_path / f".tmp-export-{uuid.uuid4().hex}"


def stage_version(model: Any, base_path: Path) -> Path:
    """Write SavedModel and `model.onnx` into a hidden staging folder inside `base_path`
    (same file system, so publishing is one rename). Nothing watching sees it as a version.

    Args:
        model: a Keras model with input `images` [N,28,28,1] and output `probabilities`.
        base_path: the model base path a server watches.
    """
    staging = _staging_folder(base_path)
    try:
        _save_saved_model(model, staging)
        _save_onnx(model, staging / "model.onnx")
    except BaseException:
        discard(staging)
        raise
    return staging


def stage_copy(version: Path, base_path: Path) -> Path:
    """Copy an existing version into a hidden staging folder inside `base_path`."""
    staging = _staging_folder(base_path)
    try:
        shutil.copytree(version, staging)
    except BaseException:
        discard(staging)
        raise
    return staging


def publish_version(
    staging: Path, base_path: Path, extra: dict[str, Any], metrics: dict[str, Any]
) -> Path:
    """Add metadata and metrics, then rename the staged folder to the next free version
    number (retrying if another exporter took it first). Returns the version folder."""
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    try:
        for _ in range(100):
            version = next_version(base_path)
            (staging / "metadata.json").write_text(json.dumps(metadata(version, extra), indent=2))
            target = base_path / str(version)
            try:
                os.rename(staging, target)
                return target
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise ExportError(f"cannot move the new version to {target}: {exc}") from exc
        raise ExportError(f"no free version number under {base_path} after 100 tries")
    finally:
        discard(staging)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def serving_function(model: Any) -> Any:
    """The serving signature: `images` float32 [N,28,28,1] -> {`probabilities`: [N,10]}."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *INPUT_SHAPE], tf.float32, INPUT_NAME)])  # type: ignore[untyped-decorator]
    def serve(images: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: model(images, training=False)}

    return serve


def _save_saved_model(model: Any, folder: Path) -> None:
    import keras
    import tensorflow as tf

    # A copy without the optimizer: its slots would triple the size of a serving model
    # (clone_model keeps a compiled model's optimizer; a model from its config has none).
    inference = keras.Model.from_config(model.get_config())
    inference.set_weights(model.get_weights())
    module = tf.Module()
    module.model = inference
    module.serve = serving_function(inference)
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})


def _save_onnx(model: Any, path: Path) -> None:
    import tf2onnx

    tf2onnx.convert.from_function(
        serving_function(model),
        input_signature=serving_function(model).input_signature,
        opset=ONNX_OPSET,
        output_path=str(path),
    )
