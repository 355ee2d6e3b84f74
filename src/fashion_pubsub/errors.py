"""The root of every error fashion-pubsub raises on purpose.

FashionPubSubError
 ├── ConfigurationError          a setting or flag cannot work as given
 ├── DataError                   (data/errors.py) a data file is missing, truncated or wrong
 ├── InfraError                  (infra/errors.py) a local service cannot start or stop
 ├── BrokerError                 (brokers/errors.py) Kafka or Pub/Sub refused or is unreachable
 ├── ServingError                (serving/errors.py) the model server refused a request or a model
 └── PipelineError               (pipeline/errors.py) an image or message cannot be processed

Every message names the problem and, where there is one, the fix.
"""


class FashionPubSubError(Exception):
    """Base class: the CLI prints these as one clean line instead of a traceback."""


class ConfigurationError(FashionPubSubError):
    """A setting or flag has a value that cannot work."""
