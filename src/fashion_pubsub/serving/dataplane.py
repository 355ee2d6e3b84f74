"""Protocol-neutral inference: pick the model version, check and convert the input,
run it, count it. tf_rest.py and oip_rest.py only translate HTTP to these calls."""

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from fashion_pubsub.serving.batching import Batcher
from fashion_pubsub.serving.errors import InvalidInputError, ModelNotFoundError
from fashion_pubsub.serving.repository import ModelRepository
from fashion_pubsub.serving.runtime import OnnxModel

MAX_BATCH = 4096
_first = itemgetter(0)
# Below this many input values a thread hop costs more than the inference it frees
# the event loop from (measured with bench/bench_server.py on the 28x28 model).
_INLINE_VALUES = 16 * 784


@dataclass(frozen=True)
class InferResult:
    """Outputs by name and the model version that produced them."""

    model: OnnxModel
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class VersionStatus:
    """One row of TF Serving's model_version_status."""

    version: int
    state: str
    error: str = ""


class DataPlane:
    """Runs requests against the repository's models.

    Args:
        repository: the loaded model versions.
        max_batch: largest batch one request may carry.
        on_batch: told (model name, version, batch size) after each inference, for metrics.
        threads: how many large inferences may run in worker threads at once.
    """

    def __init__(
        self,
        repository: ModelRepository,
        max_batch: int = MAX_BATCH,
        on_batch: Callable[[str, int, int], None] | None = None,
        threads: int = 4,
        batching: tuple[int, float] | None = None,
    ) -> None:
        self.repository = repository
        self._batching = batching
        self._batchers: weakref.WeakKeyDictionary[OnnxModel, Batcher] = weakref.WeakKeyDictionary()
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._limiter = anyio.CapacityLimiter(threads)

    def model(self, name: str, version: int | None = None, label: str | None = None) -> OnnxModel:
        """The loaded version a request names (latest when neither version nor label)."""
        return self.repository.get(name).resolve(version, label)

    def versions(self, name: str) -> list[int]:
        return sorted(self.repository.get(name).versions)

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """Loaded versions as AVAILABLE, refused ones as END with the reason."""
        served = self.repository.get(name)
        if label is not None or version is not None:
            wanted = served.resolve(version, label).version
            return [VersionStatus(wanted, "AVAILABLE")]
        rows = [VersionStatus(v, "AVAILABLE") for v in served.versions]
        rows += [
            VersionStatus(v, "END", f.reason)
            for v, f in served.failed.items()
            if v not in served.versions
        ]
        if not rows:
            raise ModelNotFoundError(
                f"model {name!r} has no versions yet; export one under {served.config.base_path}"
            )
        return sorted(rows, key=lambda row: row.version, reverse=True)

    async def infer(self, name: str, model: OnnxModel, inputs: Mapping[str, Any]) -> InferResult:
        """Validate and convert `inputs` (arrays or nested lists by input name) and run."""
        arrays = {key: as_array(key, value) for key, value in inputs.items()}
        prepared = model.prepare_inputs(arrays)
        batch = len(next(iter(prepared.values())))
        if batch > self._max_batch:
            raise InvalidInputError(
                f"batch of {batch} is over the limit of {self._max_batch}; split it"
            )
        values = sum(a.size for a in prepared.values())
        if self._batching is not None:
            outputs = await self._batcher(model).predict(prepared)
        elif values <= _INLINE_VALUES:
            outputs = model.predict(prepared)
        else:
            outputs = await anyio.to_thread.run_sync(model.predict, prepared, limiter=self._limiter)
        if self._on_batch is not None:
            self._on_batch(name, model.version, batch)
        return InferResult(model, outputs)

    def _batcher(self, model: OnnxModel) -> Batcher:
        batcher = self._batchers.get(model)
        if batcher is None:
            assert self._batching is not None
            batcher = self._batchers[model] = Batcher(model, *self._batching)
        return batcher


def as_array(name: str, value: Any) -> np.ndarray:
    """`value` (an array or nested lists from JSON) as a numeric array.

    Raises:
        InvalidInputError: ragged lists or values that are not numbers.
    """
    if isinstance(value, np.ndarray):
        return value
    try:
        array = _from_nested(value) if isinstance(value, list) else np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"input {name!r} must be a rectangular array of numbers ({exc})"
        ) from exc
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"input {name!r} must contain only numbers, not {array.dtype} values"
        )
    return array


def _from_nested(value: list[Any]) -> np.ndarray:
    """Nested JSON lists -> array, level by level with C-level map/chain: about twice as
    fast as np.asarray on [N,28,28,1] images, whose innermost lists hold one pixel each.

    Raises:
        ValueError: the lists are ragged.
        TypeError: lists and scalars are mixed on one level.
    """
    level: list[Any] = [value]
    shape: list[int] = []
    while level and type(level[0]) is list:
        lengths = set(map(len, level))
        if len(lengths) != 1:
            raise ValueError(f"lists of different lengths {sorted(lengths)} on one level")
        size = lengths.pop()
        shape.append(size)
        level = list(map(_first, level)) if size == 1 else list(chain.from_iterable(level))
    return np.array(level).reshape(shape)
