"""Our .proto files: the committed generated code is what `make protos` makes of them,
and the Open Inference Protocol messages are wire-compatible with Triton's client's."""

from importlib import resources
from pathlib import Path

import pytest
from grpc_tools import protoc
from tritonclient.grpc import service_pb2 as triton

from fashion_pubsub.serving.protos import inference_pb2 as ours
from tests.support.proto_shapes import wire_shape

SRC = Path(__file__).resolve().parents[3] / "src"
PROTOS = SRC / "fashion_pubsub" / "serving" / "protos"


def test_the_generated_code_is_up_to_date(tmp_path: Path) -> None:
    files = sorted(PROTOS.glob("*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    arguments = ["protoc", f"-I{SRC}", f"-I{well_known}"]
    arguments += [f"--python_out={tmp_path}", f"--pyi_out={tmp_path}"]
    assert protoc.main([*arguments, *map(str, files)]) == 0
    generated = tmp_path / "fashion_pubsub" / "serving" / "protos"
    for path in sorted(generated.iterdir()):
        committed = PROTOS / path.name
        assert committed.read_text() == path.read_text(), f"run `make protos`: {path.name}"


@pytest.mark.parametrize(
    "name",
    [
        "ServerLiveResponse",
        "ServerReadyResponse",
        "ModelReadyRequest",
        "ModelReadyResponse",
        "ServerMetadataResponse",
        "ModelMetadataRequest",
        "ModelMetadataResponse",
        "ModelInferRequest",
        "ModelInferResponse",
    ],
)
def test_open_inference_protocol_messages_match_tritons(name: str) -> None:
    mine = wire_shape(getattr(ours, name).DESCRIPTOR)
    theirs = wire_shape(getattr(triton, name).DESCRIPTOR)
    assert mine == theirs
