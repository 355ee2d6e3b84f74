"""Model changes seen over gRPC: HandleReloadConfigRequest (sent with TF Serving's own
client) applies a ModelServerConfig through the same reader as --model_config_file, and
a version exported while the server runs is picked up and served."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.support.grpc_serving import RunningServer, TfServingClient, running_server
from tests.support.serving import expected_probabilities, export_version, labelled_model_config

START = 'model_config_list { config { name: "alpha" base_path: "alpha" } }'
NEW = f"""
model_config_list {{{labelled_model_config("alpha")}
  config {{
    name: "beta"
    base_path: "beta"
    model_version_policy {{ latest {{ num_versions: 0 }} }}
  }}
}}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    export_version(tmp_path / "alpha", 1)
    export_version(tmp_path / "alpha", 2)
    export_version(tmp_path / "beta", 4)
    export_version(tmp_path / "beta", 5)
    (tmp_path / "models.config").write_text(START)
    np.save(tmp_path / "images.npy", np.arange(784 * 2, dtype=np.uint8).reshape(2, 28, 28, 1))
    return tmp_path


@pytest.fixture
def server(root: Path) -> Iterator[RunningServer]:
    with running_server(root, "--model_config_file", str(root / "models.config")) as server:
        yield server


@pytest.fixture(scope="module")
def worker() -> Iterator[TfServingClient]:
    client = TfServingClient("")
    yield client
    client.close()


@pytest.fixture
def tfs(worker: TfServingClient, server: RunningServer) -> TfServingClient:
    worker.target = server.target
    return worker


def versions(tfs: TfServingClient, model: str) -> list[int]:
    answer = tfs.call("status", model=model)
    assert answer["code"] == "OK", answer
    return [row["version"] for row in answer["versions"]]


def test_a_reload_applies_the_new_config(tfs: TfServingClient, root: Path) -> None:
    assert versions(tfs, "alpha") == [2]
    assert tfs.call("reload", config=NEW) == {"code": "OK", "error_code": 0}
    assert versions(tfs, "alpha") == [2, 1]
    assert versions(tfs, "beta") == [5]  # latest 0 serves one version, as in TF Serving
    images = str(root / "images.npy")
    for label, version in (("stable", 1), ("canary", 2)):
        answer = tfs.call("predict", model="alpha", label=label, images=images)
        assert answer["version"] == version
    back = tfs.call("reload", config=START)
    assert back["code"] == "OK"
    assert tfs.call("status", model="beta")["code"] == "NOT_FOUND"
    assert tfs.call("predict", model="alpha", label="stable", images=images)["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("config", "code", "details"),
    [
        (
            'model_config_list { config { name: "a/b" base_path: "alpha" } }',
            "INVALID_ARGUMENT",
            "name",
        ),
        ("model_config_list { }", "INVALID_ARGUMENT", "at least one model"),
        (
            'model_config_list { config { name: "alpha" base_path: "gone" } }',
            "FAILED_PRECONDITION",
            "does not exist",
        ),
        (
            'model_config_list { config { name: "alpha" base_path: "alpha" '
            "model_version_policy { specific { } } } }",
            "INVALID_ARGUMENT",
            "specific policy",
        ),
    ],
)
def test_a_refused_reload_changes_nothing(
    tfs: TfServingClient, root: Path, config: str, code: str, details: str
) -> None:
    answer = tfs.call("reload", config=config)
    assert answer["code"] == code and details in answer["details"], answer
    assert versions(tfs, "alpha") == [2]
    assert tfs.call("predict", model="alpha", images=str(root / "images.npy"))["code"] == "OK"


def wait_for(condition: Callable[[], Any], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.1)


def test_a_new_version_is_served_over_grpc_once_exported(
    tfs: TfServingClient, server: RunningServer, root: Path
) -> None:
    images = np.load(root / "images.npy")
    export_version(root / "alpha", 3)
    wait_for(lambda: versions(tfs, "alpha") == [3], "loading version 3")
    answer = tfs.call("predict", model="alpha", images=str(root / "images.npy"))
    assert answer["version"] == 3
    np.testing.assert_allclose(
        np.asarray(answer["outputs"]["probabilities"]), expected_probabilities(3, images), atol=1e-5
    )
    with triton.InferenceServerClient(server.target) as client:
        assert client.get_model_metadata("alpha", as_json=True)["versions"] == ["3"]
        assert not client.is_model_ready("alpha", "2")
