"""--model_config_file is read by google.protobuf's text format (and JSON) parsers into
TF Serving's ModelServerConfig, so its syntax is TF Serving's, and anything else is
refused with a ConfigurationError that says where."""

from pathlib import Path

import pytest

from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.serving.model_config import ModelConfig, VersionPolicy, read_model_config_file


def _read(tmp_path: Path, text: str, name: str = "models.config") -> list[ModelConfig]:
    path = tmp_path / name
    path.write_text(text)
    return read_model_config_file(path)


def _one(policy: str) -> str:
    return f'model_config_list {{ config {{ name: "m" base_path: "b" {policy} }} }}'


def test_the_list_syntax_of_the_text_format_names_each_version(tmp_path: Path) -> None:
    (config,) = _read(tmp_path, _one("model_version_policy { specific { versions: [1, 2] } }"))
    assert config.policy == VersionPolicy("specific", versions=(1, 2))
    assert config.policy.select([1, 2, 3]) == {1, 2}


def test_latest_zero_serves_one_version_as_tf_serving_does(tmp_path: Path) -> None:
    (config,) = _read(tmp_path, _one("model_version_policy { latest { num_versions: 0 } }"))
    assert config.policy.select([1, 2, 3]) == {3}


def test_latest_zero_from_the_flag_serves_one_version() -> None:
    assert VersionPolicy.parse("latest:0").select([1, 2, 3]) == {3}


def test_a_full_config_with_comments_labels_and_colons(tmp_path: Path) -> None:
    text = """
    # two models
    model_config_list: {
      config: {
        name: "alpha"
        base_path: "models/alpha"   # relative to this file
        model_platform: "onnx"
        model_version_policy: { latest: { num_versions: 2 } }
        version_labels { key: "stable" value: 1 }
        version_labels { key: "canary" value: 2 }
      }
      config { name: 'beta' base_path: "/srv/beta" model_version_policy { all {} } }
    }
    """
    alpha, beta = _read(tmp_path, text)
    assert alpha.base_path == tmp_path / "models" / "alpha"
    assert alpha.policy == VersionPolicy("latest", 2)
    assert alpha.labels == {"stable": 1, "canary": 2}
    assert beta.base_path == Path("/srv/beta") and beta.policy.kind == "all"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_one("x { " * 3000 + "}" * 3000), "has no field named"),
        (_one("bogus: 3"), "has no field named"),
        (_one("model_version_policy { specific { versions: [1, -2] } }"), "versions >= 0"),
        (_one("model_version_policy { specific { } }"), "versions >= 0"),
        (_one('model_platform: "pytorch"'), "is not served"),
        ('model_config_list { config { name: "a/b" base_path: "b" } }', "must be 1-128"),
        ('model_config_list { config { name: "m" } }', "needs a base_path"),
        ("model_config_list { }", "at least one model"),
        (
            'model_config_list { config { name: "m" base_path: "a" } '
            'config { name: "m" base_path: "b" } }',
            "each once",
        ),
        ("custom_model_config { }", "only model_config_list"),
        (_one("model_version_policy { latest { num_versions: -1 } }"), "out of range"),
        ('model_config_list { config { name: "m" base_path: "b" }', "Expected"),
    ],
)
def test_what_is_not_a_servable_config_is_refused_with_the_reason(
    tmp_path: Path, text: str, reason: str
) -> None:
    with pytest.raises(ConfigurationError, match=reason):
        _read(tmp_path, text)


def test_json_configs_use_protobufs_json_mapping(tmp_path: Path) -> None:
    text = (
        '{"model_config_list": {"config": [{"name": "m", "base_path": "b", '
        '"model_version_policy": {"specific": {"versions": ["1", 3]}}, '
        '"version_labels": {"stable": 3}}]}}'
    )
    (config,) = _read(tmp_path, text, "models.json")
    assert config.policy.versions == (1, 3) and config.labels == {"stable": 3}


@pytest.mark.parametrize(
    "text",
    ['{"model_config_list": ' * 5000 + "{}" + "}" * 5000, '{"model_config_list": {"bogus": 1}}'],
)
def test_bad_json_configs_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigurationError, match="not a ModelServerConfig"):
        _read(tmp_path, text, "models.json")


def test_an_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "models.config"
    path.write_bytes(b"\xff\xfe model_config_list")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        read_model_config_file(path)
