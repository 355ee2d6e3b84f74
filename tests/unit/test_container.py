"""The container set-up, read as Docker would read it (no Docker engine runs here)."""

import shlex
from pathlib import Path

import yaml

from tests.conftest import ROOT


def _compose() -> dict[str, dict[str, dict[str, object]]]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def _flags(command: str) -> dict[str, str]:
    words = shlex.split(command)
    return {word: words[i + 1] for i, word in enumerate(words) if word.startswith("--")}


def _volume_of(path: str, mounts: list[str]) -> str:
    """The mount (host:container) that holds `path` inside the container."""
    targets = [m for m in mounts if path.startswith(m.split(":")[1].rstrip("/") + "/")]
    assert len(targets) == 1, f"{path} is on no single mounted volume: {mounts}"
    return targets[0]


def test_input_published_and_rejected_share_one_volume() -> None:
    publisher = _compose()["services"]["publisher"]
    flags = _flags(str(publisher["command"]))
    mounts = [str(m) for m in publisher["volumes"]]  # type: ignore[attr-defined]
    folders = [flags["--input"], flags["--published"], flags["--rejected"]]
    assert len({_volume_of(folder, mounts) for folder in folders}) == 1


def test_nothing_of_ours_runs_as_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    for name, service in _compose()["services"].items():
        if service.get("build"):
            user = str(service.get("user", users[-1]))
            assert not user.startswith(("root", "0:")) and user != "0", name


def test_the_image_runs_the_installed_command() -> None:
    text = (Path(ROOT) / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["fashion-pubsub"]' in text


def test_the_image_generates_the_protobuf_code_it_installs() -> None:
    # The *_pb2 modules are not committed (`make protos`): without them the image's gRPC
    # server could not start. A first stage generates every .proto's; the install copies them.
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    text = "\n".join(lines)
    assert "grpc_tools.protoc" in text and "/src/fashion_pubsub/serving/protos/*.proto" in text
    copied = next(i for i, line in enumerate(lines) if line.startswith("COPY --from=protos"))
    installed = max(i for i, line in enumerate(lines) if line.startswith("RUN pip install"))
    assert lines[copied].split()[-1] == "./src/fashion_pubsub/serving/protos"
    assert copied < installed and lines[installed].split()[-1] == "."
