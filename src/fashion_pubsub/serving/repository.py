"""Model versions on disk -> loaded ONNX sessions, kept in step by polling.

As in TF Serving: a version is a folder named by digits under a model's base path
(anything else, such as `.tmp-3-abc`, is ignored). Each poll picks the versions the
policy wants, loads and warms up the new ones off the event loop, swaps them in at once,
then drops the ones no longer wanted. Requests in flight keep their reference to the
old session, so none fails during a swap. A version that cannot be loaded is refused
with a logged reason and not retried until its folder changes; what was serving keeps
serving.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fashion_pubsub.logs import log_event
from fashion_pubsub.serving.errors import ModelLoadError, ModelNotFoundError, ModelNotReadyError
from fashion_pubsub.serving.model_config import ModelConfig
from fashion_pubsub.serving.runtime import OnnxModel

logger = logging.getLogger(__name__)

Loader = Callable[[Path, int], OnnxModel]
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class FailedVersion:
    """A version folder that was refused, and the state of the folder at the time."""

    fingerprint: Fingerprint
    reason: str


@dataclass
class ServedModel:
    """What one model serves right now. `versions` is replaced, never mutated, so readers
    on the event loop always see a complete set.

    Args:
        config: the model's configuration.
    """

    config: ModelConfig
    versions: dict[int, OnnxModel] = field(default_factory=dict)
    failed: dict[int, FailedVersion] = field(default_factory=dict)

    def resolve(self, version: int | None = None, label: str | None = None) -> OnnxModel:
        """The model version for a request: explicit, by label, or the latest loaded.

        Raises:
            ModelNotFoundError: no such version or label.
            ModelNotReadyError: nothing is loaded yet.
        """
        versions = self.versions
        if label is not None:
            if label not in self.config.labels:
                raise ModelNotFoundError(
                    f"model {self.config.name!r} has no version label "
                    f"{label!r}; known labels: {sorted(self.config.labels)}"
                )
            version = self.config.labels[label]
        if version is None:
            if not versions:
                raise ModelNotReadyError(
                    f"model {self.config.name!r} has no loaded version yet; "
                    f"export one under {self.config.base_path}"
                )
            return versions[max(versions)]
        model = versions.get(version)
        if model is None:
            raise ModelNotFoundError(
                f"model {self.config.name!r} has no version {version} "
                f"loaded; loaded versions: {sorted(versions)}"
            )
        return model


class ModelRepository:
    """All served models; `poll()` brings them in step with their base paths.

    Args:
        configs: the models to serve.
        loader: builds a warmed-up OnnxModel from a version folder (runs in a thread).
        on_change: called after any version set changes (metrics use it).
    """

    def __init__(
        self,
        configs: list[ModelConfig],
        loader: Loader,
        on_change: Callable[["ModelRepository"], None] | None = None,
    ) -> None:
        self.models = {config.name: ServedModel(config) for config in configs}
        self._loader = loader
        self._on_change = on_change
        self._lock = asyncio.Lock()  # a reload and a poll never sync one model at once

    def get(self, name: str) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            raise ModelNotFoundError(
                f"no model named {name!r}; this server serves {sorted(self.models)}"
            )
        return model

    @property
    def ready(self) -> bool:
        """Every configured model has at least one loaded version."""
        return all(model.versions for model in self.models.values())

    async def poll(self) -> None:
        """One pass over every model's base path."""
        async with self._lock:
            for model in self.models.values():
                await self._sync(model)

    async def apply(self, configs: list[ModelConfig]) -> None:
        """Serve `configs` from now on, as TF Serving's HandleReloadConfigRequest does:
        models no longer named are dropped, new ones loaded, and kept ones follow their
        new policy and labels. Versions are loaded before the new set replaces the old
        in one assignment, so requests see the old set or the new one, never a mix.

        Args:
            configs: the new model set (already validated, names unique).
        """
        async with self._lock:
            models: dict[str, ServedModel] = {}
            for config in configs:
                old = self.models.get(config.name)
                if old is not None and old.config.base_path == config.base_path:
                    model = ServedModel(config, old.versions, dict(old.failed))
                else:
                    model = ServedModel(config)
                await self._sync(model)
                models[config.name] = model
            for name in sorted(set(self.models) - set(models)):
                log_event(logger, "model_unloaded", model=name)
            self.models = models
            log_event(logger, "model_config_applied", models=",".join(models))
            if self._on_change is not None:
                self._on_change(self)

    async def _sync(self, model: ServedModel) -> None:
        import anyio.to_thread

        found = _version_folders(model.config.base_path)
        fingerprints = {v: _fingerprint(p) for v, p in found.items()}
        for version in list(model.failed):
            if fingerprints.get(version) != model.failed[version].fingerprint:
                del model.failed[version]  # the folder changed: try again
        loaded = dict(model.versions)
        while True:
            candidates = [v for v in found if v not in model.failed]
            wanted = model.config.policy.select(candidates)
            missing = sorted(wanted - set(loaded), reverse=True)
            if not missing:
                break
            version = missing[0]
            try:
                loaded[version] = await anyio.to_thread.run_sync(
                    self._loader, found[version], version
                )
                log_event(logger, "version_loaded", model=model.config.name, version=version)
            except ModelLoadError as exc:
                model.failed[version] = FailedVersion(fingerprints[version], str(exc))
                log_event(
                    logger,
                    "version_refused",
                    logging.WARNING,
                    model=model.config.name,
                    version=version,
                    reason=str(exc),
                )
        kept = {v: m for v, m in loaded.items() if v in wanted}
        if kept.keys() != model.versions.keys():
            for version in sorted(set(model.versions) - set(kept)):
                log_event(logger, "version_unloaded", model=model.config.name, version=version)
            model.versions = kept  # one assignment: readers see old or new, never a mix
            if self._on_change is not None:
                self._on_change(self)


def _version_folders(base_path: Path) -> dict[int, Path]:
    try:
        entries = list(base_path.iterdir())
    except OSError:
        return {}
    return {int(p.name): p for p in entries if p.name.isdigit() and p.is_dir()}


def _fingerprint(folder: Path) -> Fingerprint:
    try:
        stats = [(p.name, p.stat()) for p in sorted(folder.iterdir())]
    except OSError:
        return ()
    return tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)
