"""Which models to serve: from flags, from a `--model_config_file`, or from a
HandleReloadConfigRequest.

The file is tensorflow_model_server's ModelServerConfig in protobuf text format, e.g.

    model_config_list {
      config {
        name: "fashion-model"
        base_path: "models/fashion-model"
        model_version_policy { latest { num_versions: 2 } }
        version_labels { key: "stable" value: 1 }
        version_labels { key: "canary" value: 2 }
      }
    }

or the same message in protobuf's JSON mapping ({"model_config_list": {"config": [...]}}).
google.protobuf's own parsers read both into our wire-compatible ModelServerConfig
message, so everything the text format allows (`versions: [1, 2]`, comments, either
field order) is read as tensorflow_model_server reads it, and anything else is refused
with the parser's line and column. A file and a reload request go through the same
`from_proto`.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format, text_format
from google.protobuf.message import DecodeError

from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.serving.protos import tensorflow_serving_pb2 as tfs
from fashion_pubsub.settings import ServerSettings

# Names travel in REST paths (/v1/models/NAME/versions/N:predict): no "/" or ":".
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_PLATFORMS = ("", "onnx", "onnxruntime_onnx", "tensorflow")


@dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's model_version_policy: latest N, all, or specific versions.

    Args:
        kind: "latest", "all" or "specific".
        num_versions: how many of the highest versions for "latest"; 0 counts as 1,
            as in tensorflow_model_server (proto3 cannot tell 0 from unset).
        versions: the version numbers for "specific".
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> set[int]:
        """The versions to serve out of `available` (loadable version numbers)."""
        if self.kind == "all":
            return set(available)
        if self.kind == "specific":
            return set(self.versions) & set(available)
        return set(sorted(available)[-max(self.num_versions, 1) :])

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """From the flag: "latest", "latest:2", "all" or "specific:1,3"."""
        kind, _, rest = text.strip().partition(":")
        try:
            if kind == "latest" and int(rest or 1) >= 0:
                return cls("latest", int(rest or 1))
            if kind == "all" and not rest:
                return cls("all")
            if kind == "specific" and rest:
                versions = tuple(int(v) for v in rest.split(","))
                if all(v >= 0 for v in versions):
                    return cls("specific", versions=versions)
        except ValueError:
            pass
        raise ConfigurationError(
            f"model version policy {text!r} is not understood; use "
            "latest, latest:N, all or specific:1,2"
        )


@dataclass(frozen=True)
class ModelConfig:
    """One served model.

    Args:
        name: the name in URLs.
        base_path: folder holding numbered version folders.
        policy: which versions to serve.
        labels: version labels such as {"stable": 1, "canary": 2}.
    """

    name: str
    base_path: Path
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    labels: dict[str, int] = field(default_factory=dict)


def read_model_config_file(path: Path) -> list[ModelConfig]:
    """Parse a ModelServerConfig (text proto or JSON); relative base paths are taken
    relative to the file's folder, as a user would expect.

    Raises:
        ConfigurationError: the file cannot be read, parsed or served, with the reason.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"model config file {path} cannot be read: {exc}") from exc
    message = tfs.ModelServerConfig()
    try:
        if text.lstrip().startswith("{"):
            json_format.Parse(text, message)
        else:
            text_format.Parse(text, message)
    except (json_format.ParseError, text_format.ParseError, DecodeError, RecursionError) as exc:
        raise ConfigurationError(
            f"model config file {path} is not a ModelServerConfig: {exc}; "
            "see docs/serving.md for the format"
        ) from exc
    try:
        return from_proto(message, path.parent)
    except ConfigurationError as exc:
        raise ConfigurationError(f"model config file {path}: {exc}") from exc


def from_proto(message: tfs.ModelServerConfig, root: Path) -> list[ModelConfig]:
    """The models a ModelServerConfig names, checked; relative base paths join `root`.

    Args:
        message: the parsed ModelServerConfig (from a file or a reload request).
        root: the folder relative base paths are taken from.

    Raises:
        ConfigurationError: no model_config_list, no models, a name twice, or a model
            that cannot be served as configured.
    """
    if message.WhichOneof("config") != "model_config_list":
        raise ConfigurationError("only model_config_list is supported (custom_model_config is not)")
    configs = [_model_config(entry, root) for entry in message.model_config_list.config]
    names = [c.name for c in configs]
    if not configs or len(set(names)) != len(names):
        raise ConfigurationError(f"it must name at least one model, each once; it names {names}")
    return configs


def _model_config(entry: tfs.ModelConfig, root: Path) -> ModelConfig:
    if not _NAME.match(entry.name):
        raise ConfigurationError(
            f"model name {entry.name!r} must be 1-128 letters, digits, '_', '.' or '-'"
        )
    if not entry.base_path:
        raise ConfigurationError(f"model {entry.name!r} needs a base_path")
    if entry.model_platform not in _PLATFORMS:
        raise ConfigurationError(
            f"model {entry.name!r}: model_platform {entry.model_platform!r} is not served; "
            "leave it out or use onnx"
        )
    labels = {str(key): int(value) for key, value in entry.version_labels.items()}
    if any(value < 0 for value in labels.values()):
        raise ConfigurationError(f"model {entry.name!r}: version labels must name versions >= 0")
    base = Path(entry.base_path)
    return ModelConfig(
        entry.name,
        base if base.is_absolute() else root / base,
        _policy(entry.name, entry.model_version_policy),
        labels,
    )


def _policy(
    name: str, policy: tfs.FileSystemStoragePathSourceConfig.ServableVersionPolicy
) -> VersionPolicy:
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return VersionPolicy("all")
    if choice == "specific":
        versions = tuple(int(v) for v in policy.specific.versions)
        if not versions or any(v < 0 for v in versions):
            raise ConfigurationError(
                f"model {name!r}: a specific policy needs versions >= 0, got {list(versions)}"
            )
        return VersionPolicy("specific", versions=versions)
    # unset or latest; num_versions 0 (or unset) serves one version, as TF Serving does
    return VersionPolicy("latest", max(int(policy.latest.num_versions), 1))


def model_configs(settings: ServerSettings) -> list[ModelConfig]:
    """The models to serve: the config file's, or the one named by flags."""
    if settings.model_config_file is not None:
        return read_model_config_file(settings.model_config_file)
    policy = VersionPolicy.parse(settings.model_version_policy)
    return [ModelConfig(settings.model_name, settings.model_base_path, policy)]


def config_root(settings: ServerSettings) -> Path:
    """Where relative base paths of a reload request point: beside the config file the
    server started with, else the working directory."""
    if settings.model_config_file is not None:
        return settings.model_config_file.parent
    return Path.cwd()
