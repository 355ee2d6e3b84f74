"""The model server: TF Serving's REST API and the Open Inference Protocol on ONNX Runtime.

The public API is the pipeline's client (docs/serving.md, "Client for the pipeline"). It is
imported on first use, so that importing a light module of this package (its errors, say)
does not load httpx and numpy.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fashion_pubsub.serving.client import Prediction, ServingClient
    from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError

__all__ = ["Prediction", "ServingClient", "ServingRequestError", "ServingUnavailableError"]

_MODULES = {
    "Prediction": "client",
    "ServingClient": "client",
    "ServingRequestError": "errors",
    "ServingUnavailableError": "errors",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module when it is first asked for (PEP 562).

    Args:
        name: the attribute asked for.
    """
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
