"""The root of every error fashion-pubsub raises on purpose, and the whole tree. Each package
keeps its own classes in its errors.py; every message names the problem and, where there is
one, the fix. A third-party error is wrapped where it enters our code and kept as the cause
(`raise BrokerError(...) from exc`).

FashionPubSubError                  the CLI prints these as one line, not a traceback
 ├── ConfigurationError             a setting or flag cannot work as given
 ├── DataError                      data/errors.py: a data file cannot be used
 │    ├── IdxFormatError            not a valid IDX file of the expected kind
 │    ├── DataNotFoundError         the files are not where any location says
 │    ├── ChecksumError             a download does not have the published md5 sum
 │    └── RangeError                --start/--end select no image of the file
 ├── InfraError                     infra/errors.py: a local service cannot start or stop
 │    ├── MissingToolError          Java, Maven or the emulator is not installed
 │    └── StartError                a service exited or did not answer in time
 ├── BrokerError                    brokers/errors.py: Kafka or Pub/Sub refused; `.retriable`
 │    ├── BrokerUnavailableError    it cannot be reached: retriable
 │    ├── TopicNotFoundError        a topic or subscription is missing: not retriable
 │    ├── TransactionAbortedError   a Kafka transaction was aborted; its batch comes again
 │    ├── TransactionFencedError    a newer instance took over the transactional id: stop
 │    └── PublishError              one message not published (`PublishResult.error`)
 │         └── MessageTooLargeError over the broker's limits: publish it shrunk
 ├── ServingError                   serving/errors.py: the model server refused
 │    ├── ModelNotFoundError        404 unknown model, version or label
 │    ├── InvalidInputError         400 bad JSON, shape, dtype or value range
 │    ├── ModelNotReadyError        503 no version loaded yet
 │    ├── PayloadTooLargeError      413 the body is over --max_body_bytes
 │    ├── RequestTimeoutError       408 the body took too long to arrive
 │    ├── ClientGoneError           499 the client hung up before its body was in
 │    ├── ModelLoadError            a version folder cannot be loaded (logged, not served)
 │    ├── SignatureNotFoundError    gRPC FAILED_PRECONDITION: no such signature_name
 │    ├── BasePathMissingError      gRPC FAILED_PRECONDITION: a reloaded base_path is absent
 │    ├── UnsupportedMethodError    gRPC UNIMPLEMENTED: Classify, Regress, MultiInference
 │    ├── ServingUnavailableError   client: the server is down or failing; retry
 │    │    └── ServingResponseError client: its answer is unusable (NaN, shape, size...)
 │    └── ServingRequestError       client: the server refused the request; do not retry
 ├── PipelineError                  pipeline/errors.py: an image or message cannot be processed
 │    ├── RejectedFileError         a file goes to rejected/ with its reason
 │    ├── WireFormatError           a message goes to the dead-letter topic
 │    ├── OutputPathError           no safe free output name for an image
 │    ├── ResultsWriteError         the results log did not take a batch (disk full)
 │    └── HoldExpiredError          a batch held for the model server is given back (stopping)
 ├── ModelError                     model/errors.py: training or export failed
 │    ├── TrainingDependencyError   TensorFlow (the train extra) is not installed
 │    └── ExportError               a version folder could not be written completely
 ├── DemoError                      demo/errors.py: a demo or bench run could not finish
 │    └── RunTimeoutError           not every image had a result in time
 ├── ObservabilityError             observability/errors.py: a metrics endpoint cannot work
 │    └── MetricsPortError          the metrics port is taken or not allowed
 └── TraceparentError               (here, for tracing.py) not a W3C traceparent; ignored
"""


class FashionPubSubError(Exception):
    """Base class: the CLI prints these as one clean line instead of a traceback."""


class ConfigurationError(FashionPubSubError):
    """A setting or flag has a value that cannot work."""


class TraceparentError(FashionPubSubError):
    """A `traceparent` value is not a valid W3C Trace Context header (tracing.py).

    Args:
        value: the value received (shortened in the message).
        reason: what is wrong with it.
    """

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"traceparent {value[:80]!r}: {reason}")
        self.value = value
        self.reason = reason
