"""Errors of the model server; app.py maps each to an HTTP status in one table.

FashionPubSubError
 └── ServingError
      ├── ModelNotFoundError        404 unknown model, version or label
      ├── InvalidInputError         400 bad JSON, shape, dtype or value range
      ├── ModelNotReadyError        503 the model has no loaded version yet
      ├── PayloadTooLargeError      413 the request body is over --max_body_bytes
      ├── RequestTimeoutError       408 the body took over --rest_api_body_timeout_seconds
      ├── ClientGoneError           499 the client closed the connection before its body was in
      ├── ModelLoadError            a version folder cannot be loaded (logged, not served)
      ├── SignatureNotFoundError    (gRPC FAILED_PRECONDITION) no such signature_name
      ├── BasePathMissingError      (gRPC FAILED_PRECONDITION) a reloaded base_path is absent
      ├── UnsupportedMethodError    (gRPC UNIMPLEMENTED) Classify, Regress, MultiInference
      ├── ServingUnavailableError   (client) the server cannot be reached or is failing: retry
      │    └── ServingResponseError (client) its answer is unusable (NaN, shape, not JSON,
      │                             too large...): the server is failing, not the images
      └── ServingRequestError       (client) the server refused the request itself: do not retry
"""

from fashion_pubsub.errors import FashionPubSubError


class ServingError(FashionPubSubError):
    """The model server refused a request or a model."""


class ModelNotFoundError(ServingError):
    """No such model, version or label."""


class InvalidInputError(ServingError):
    """The request body, shape, dtype or values are not acceptable."""


class ModelNotReadyError(ServingError):
    """The model is configured but no version is loaded yet."""


class PayloadTooLargeError(ServingError):
    """The request body is larger than the server accepts."""


class RequestTimeoutError(ServingError):
    """The client took too long to send the request body."""


class ClientGoneError(ServingError):
    """The client closed the connection before it had sent the request body."""


class ModelLoadError(ServingError):
    """A version folder could not be loaded; the current version keeps serving."""


class SignatureNotFoundError(ServingError):
    """The request names a signature the model does not have."""


class BasePathMissingError(ServingError):
    """A new model config names a base_path that does not exist; it is not applied."""


class UnsupportedMethodError(ServingError):
    """An RPC this server does not implement (the model has only a predict signature)."""


class ServingUnavailableError(ServingError):
    """Client side: the server is down, overloaded or failing; back off and retry."""


class ServingRequestError(ServingError):
    """Client side: the server rejected the request as invalid; retrying will not help."""


class ServingResponseError(ServingUnavailableError):
    """Client side: the server answered, but with something unusable (not JSON, a wrong
    shape or type, NaN or probabilities that are not a distribution, a body far too
    large). A failure of the server, not of the images: back off and retry as for
    ServingUnavailableError, or catch it first to handle a broken server differently."""
