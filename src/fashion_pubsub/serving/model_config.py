"""Which models to serve: from flags, or from a `--model_config_file`.

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

or the same structure as JSON ({"model_config_list": {"config": [{...}]}}).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.settings import ServerSettings

_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|([{}:\[\],])|"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_.+-]+))')


@dataclass(frozen=True)
class VersionPolicy:
    """TF Serving's model_version_policy: latest N, all, or specific versions.

    Args:
        kind: "latest", "all" or "specific".
        num_versions: how many of the highest versions for "latest".
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
        return set(sorted(available)[-self.num_versions :])

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """From the flag: "latest", "latest:2", "all" or "specific:1,3"."""
        kind, _, rest = text.strip().partition(":")
        try:
            if kind == "latest":
                return cls("latest", int(rest or 1))
            if kind == "all" and not rest:
                return cls("all")
            if kind == "specific" and rest:
                return cls("specific", versions=tuple(int(v) for v in rest.split(",")))
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
    relative to the file's folder, as a user would expect."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"model config file {path} cannot be read: {exc}") from exc
    try:
        tree = orjson.loads(text) if text.lstrip().startswith("{") else _parse_text_proto(text)
        configs = _as_list(tree["model_config_list"]["config"])
        return [_model_config(entry, path.parent) for entry in configs]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"model config file {path} is not a ModelServerConfig "
            f"({exc!r}); see docs/serving.md for the format"
        ) from exc


def _model_config(entry: dict[str, Any], root: Path) -> ModelConfig:
    base = Path(str(entry["base_path"]))
    policy_tree = entry.get("model_version_policy") or {"latest": {}}
    if "all" in policy_tree:
        policy = VersionPolicy("all")
    elif "specific" in policy_tree:
        versions = _as_list(policy_tree["specific"].get("versions", []))
        policy = VersionPolicy("specific", versions=tuple(int(v) for v in versions))
    else:
        policy = VersionPolicy("latest", int((policy_tree["latest"] or {}).get("num_versions", 1)))
    labels_tree = entry.get("version_labels", {})
    if isinstance(labels_tree, dict) and "key" not in labels_tree:
        labels = {str(k): int(v) for k, v in labels_tree.items()}
    else:
        labels = {str(e["key"]): int(e["value"]) for e in _as_list(labels_tree)}
    return ModelConfig(
        str(entry["name"]), base if base.is_absolute() else root / base, policy, labels
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _parse_text_proto(text: str) -> dict[str, Any]:
    tokens = [t for t in _tokens(text)]
    tree, end = _message(tokens, 0)
    if end != len(tokens):
        raise ValueError(f"unexpected {tokens[end]!r}")
    return tree


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip():
                raise ValueError(f"cannot read {text[pos : pos + 20]!r}")
            break
        pos = match.end()
        if match.group(1) is None:
            punct, quoted, word = match.group(2), match.group(3), match.group(4)
            out.append(punct if punct else ('"' + quoted if quoted is not None else word))
    return out


def _message(tokens: list[str], pos: int) -> tuple[dict[str, Any], int]:
    tree: dict[str, Any] = {}
    while pos < len(tokens) and tokens[pos] != "}":
        key = tokens[pos]
        pos += 1
        if tokens[pos] == ":":
            pos += 1
        value: Any
        if tokens[pos] == "{":
            value, pos = _message(tokens, pos + 1)
            pos += 1  # the closing brace
        else:
            token = tokens[pos]
            value = token[1:] if token.startswith('"') else token
            pos += 1
        if key in tree:
            tree[key] = [*_as_list(tree[key]), value]
        else:
            tree[key] = value
    return tree, pos


def model_configs(settings: ServerSettings) -> list[ModelConfig]:
    """The models `settings` asks for: the config file's, or the one named by flags."""
    if settings.model_config_file is not None:
        configs = read_model_config_file(settings.model_config_file)
        names = [c.name for c in configs]
        if not configs or len(set(names)) != len(names):
            raise ConfigurationError(
                f"{settings.model_config_file} must name at least one "
                f"model, each once; it names {names}"
            )
        return configs
    policy = VersionPolicy.parse(settings.model_version_policy)
    return [ModelConfig(settings.model_name, settings.model_base_path, policy)]
