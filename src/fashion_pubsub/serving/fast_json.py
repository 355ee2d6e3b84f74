"""A fast path for the commonest request body, `{"instances": <numeric nested array>}`.

Turning JSON into nested Python lists and then into an array costs more than the
inference on this project's model. This path strips the brackets and parses the numbers
as one flat list instead. The shape comes from the body's "skeleton" (the body with its
digits removed): a skeleton seen before on a body that parsed correctly the slow way has
the same nesting, so it has the same shape. Anything unusual (other keys, strings, a
new skeleton, an invalid number) returns None and takes the general path, which gives
the precise error.
"""

from collections import OrderedDict

import numpy as np
import orjson

_PREFIX = b'{"instances":['
_WHITESPACE = b" \t\r\n"
_NUMBER_CHARACTERS = b"0123456789.-+eE"
_CACHE_SIZE = 64


class InstancesParser:
    """Parses `{"instances": [...]}` bodies by skeleton, learning shapes from the slow path."""

    def __init__(self) -> None:
        self._shapes: OrderedDict[bytes, tuple[int, ...]] = OrderedDict()

    def parse(self, body: bytes) -> tuple[np.ndarray | None, bytes | None]:
        """(array, None) on the fast path, else (None, skeleton-to-learn or None)."""
        compact = body.translate(None, _WHITESPACE)
        if not (compact.startswith(_PREFIX) and compact.endswith(b"]}")):
            return None, None
        nested = compact[len(_PREFIX) - 1 : -1]
        skeleton = nested.translate(None, _NUMBER_CHARACTERS)
        shape = self._shapes.get(skeleton)
        if shape is None:
            return None, skeleton
        try:
            flat = orjson.loads(b"[" + nested.translate(None, b"[]") + b"]")
            array = np.array(flat)
        except (orjson.JSONDecodeError, ValueError):
            return None, None
        if array.dtype.kind not in "iuf" or array.size != int(np.prod(shape)):
            return None, None
        return array.reshape(shape), None

    def learn(self, skeleton: bytes, array: np.ndarray) -> None:
        """Remember the shape of a body that the general path parsed successfully."""
        self._shapes[skeleton] = array.shape
        self._shapes.move_to_end(skeleton)
        while len(self._shapes) > _CACHE_SIZE:
            self._shapes.popitem(last=False)
