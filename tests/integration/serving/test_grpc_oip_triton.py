"""The Open Inference Protocol's GRPCInferenceService on `serve --port`, called with
Triton's client, tritonclient.grpc, in this process (our protos live in a private proto
package, so tritonclient's `inference` messages load beside them)."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from fashion_pubsub.data.dataset import load_split
from tests.conftest import free_port
from tests.support.grpc_serving import RunningServer, running_server
from tests.support.serving import MODEL, expected_probabilities, export_version


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grpc-oip")
    export_version(root / MODEL, 1)
    export_version(root / MODEL, 2)
    return root


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[RunningServer]:
    with running_server(
        root, "--model_base_path", str(root / MODEL), "--model_version_policy", "all"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(server.target) as client:
        yield client


@pytest.fixture(scope="module")
def pixels(data_dir: Path) -> np.ndarray:
    return load_split(data_dir, "test").images[:16].reshape(16, 28, 28, 1)


def infer(
    client: triton.InferenceServerClient, images: np.ndarray, datatype: str, version: str = ""
) -> triton.InferResult:
    tensor = triton.InferInput("images", list(images.shape), datatype)
    tensor.set_data_from_numpy(images)
    wanted = [triton.InferRequestedOutput("probabilities")]
    return client.infer(MODEL, [tensor], model_version=version, outputs=wanted)


def test_health_and_server_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready(MODEL, "3") and not client.is_model_ready("nope")
    assert client.get_server_metadata().name == "fashion-pubsub"


def test_model_metadata(client: triton.InferenceServerClient) -> None:
    meta = client.get_model_metadata(MODEL, as_json=True)
    assert meta["versions"] == ["1", "2"] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [
        {"name": "images", "datatype": "FP32", "shape": ["-1", "28", "28", "1"]}
    ]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": ["-1", "10"]}]


@pytest.mark.parametrize(("datatype", "dtype"), [("UINT8", np.uint8), ("FP32", np.float32)])
@pytest.mark.parametrize("version", ["", "1"])
def test_raw_infer_matches_rest_and_the_model(
    client: triton.InferenceServerClient,
    server: RunningServer,
    pixels: np.ndarray,
    datatype: str,
    dtype: type,
    version: str,
) -> None:
    result = infer(client, pixels.astype(dtype), datatype, version)
    probabilities = result.as_numpy("probabilities")
    served = int(version or 2)
    assert result.get_response().model_version == str(served)
    np.testing.assert_allclose(probabilities, expected_probabilities(served, pixels), atol=1e-5)
    suffix = f"/versions/{version}" if version else ""
    body = {
        "inputs": [
            {
                "name": "images",
                "shape": [16, 28, 28, 1],
                "datatype": "UINT8",
                "data": pixels.ravel().tolist(),
            }
        ]
    }
    rest = httpx.post(f"{server.rest}/v2/models/{MODEL}{suffix}/infer", json=body, timeout=30)
    rest_probabilities = np.asarray(rest.json()["outputs"][0]["data"]).reshape(16, 10)
    np.testing.assert_allclose(probabilities, rest_probabilities, atol=1e-6)


def test_typed_contents_come_back_as_typed_contents(
    server: RunningServer, pixels: np.ndarray
) -> None:
    """Inputs in `contents` (not raw) get outputs in `contents`, per the protocol."""
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    tensor = request.inputs.add(name="images", datatype="UINT8", shape=[16, 28, 28, 1])
    tensor.contents.uint_contents.extend(pixels.ravel().tolist())
    with grpc.insecure_channel(server.target) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    assert not response.raw_output_contents
    (output,) = response.outputs
    assert output.datatype == "FP32" and list(output.shape) == [16, 10]
    probabilities = np.asarray(output.contents.fp32_contents).reshape(16, 10)
    np.testing.assert_allclose(probabilities, expected_probabilities(2, pixels), atol=1e-5)


def _raw_request(**changes: object) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="images", datatype="UINT8", shape=[1, 28, 28, 1])
    request.raw_input_contents.append(bytes(784))
    for key, value in changes.items():
        if key == "raw":
            del request.raw_input_contents[:]
            request.raw_input_contents.extend(value)  # type: ignore[arg-type]
        elif key == "output":
            request.outputs.add(name=str(value))
        elif key in ("datatype", "shape"):
            tensor = request.inputs[0]
            if key == "shape":
                del tensor.shape[:]
                tensor.shape.extend(value)  # type: ignore[arg-type]
            else:
                tensor.datatype = str(value)
        else:
            setattr(request, key, value)
    return request


@pytest.mark.parametrize(
    ("changes", "code", "details"),
    [
        ({"model_name": "nope"}, grpc.StatusCode.NOT_FOUND, "no model named"),
        ({"model_version": "7"}, grpc.StatusCode.NOT_FOUND, "has no version 7"),
        ({"model_version": "latest"}, grpc.StatusCode.INVALID_ARGUMENT, "version number"),
        ({"datatype": "BYTES"}, grpc.StatusCode.INVALID_ARGUMENT, "not supported"),
        ({"raw": [bytes(700)]}, grpc.StatusCode.INVALID_ARGUMENT, "needs 784 bytes"),
        ({"raw": [bytes(784), bytes(784)]}, grpc.StatusCode.INVALID_ARGUMENT, "one per input"),
        ({"raw": []}, grpc.StatusCode.INVALID_ARGUMENT, "do not fill shape"),
        ({"shape": [1, 28, 28, -1]}, grpc.StatusCode.INVALID_ARGUMENT, "negative dimension"),
        ({"shape": [2**40, 2**40]}, grpc.StatusCode.INVALID_ARGUMENT, "far too large"),
        ({"output": "logits"}, grpc.StatusCode.INVALID_ARGUMENT, "unknown output"),
    ],
)
def test_each_error_has_its_code_and_the_server_keeps_serving(
    server: RunningServer,
    client: triton.InferenceServerClient,
    pixels: np.ndarray,
    changes: dict[str, object],
    code: grpc.StatusCode,
    details: str,
) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfer(_raw_request(**changes))
    assert error.value.code() == code, error.value.details()
    assert details in str(error.value.details())
    assert infer(client, pixels, "UINT8").as_numpy("probabilities").shape == (16, 10)


def test_the_triton_client_sees_the_errors_code(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as error:
        client.get_model_metadata("nope")
    assert error.value.status() == "StatusCode.NOT_FOUND"


def test_clients_that_leave_mid_call_do_not_harm_the_server(
    server: RunningServer, client: triton.InferenceServerClient, pixels: np.ndarray
) -> None:
    big = np.repeat(pixels, 256, axis=0)  # 4,096 images: long enough to leave during it
    tensor = triton.InferInput("images", list(big.shape), "UINT8")
    tensor.set_data_from_numpy(big)
    for _ in range(5):
        call = client.async_infer(MODEL, [tensor], callback=lambda result, error: None)
        call.cancel()
    for _ in range(5):  # a channel closed while its call runs
        channel = grpc.insecure_channel(server.target)
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = _raw_request(raw=[big.tobytes()], shape=list(big.shape))
        stub.ModelInfer.future(request)
        channel.close()
    for _ in range(5):  # and one that gives up: a deadline far too short
        with pytest.raises(InferenceServerException):
            client.infer(MODEL, [tensor], client_timeout=0.001)
    result = infer(client, pixels, "UINT8")
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected_probabilities(2, pixels), atol=1e-5
    )
    assert server.process.poll() is None


def test_the_serving_process_never_loads_tensorflow(
    server: RunningServer, client: triton.InferenceServerClient, pixels: np.ndarray
) -> None:
    assert infer(client, pixels, "UINT8").as_numpy("probabilities").shape == (16, 10)
    libraries = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert "onnxruntime" in libraries and "tensorflow" not in libraries


def test_a_second_server_on_the_same_grpc_port_stops_with_the_reason(
    server: RunningServer, root: Path
) -> None:
    """gRPC would share a port between processes (SO_REUSEPORT) and split the traffic
    between two servers; ours refuses to start instead."""
    port = server.target.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "fashion_pubsub", "serve", "--port", port]
    command += ["--rest_api_port", str(free_port()), "--model_base_path", str(root / MODEL)]
    second = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert second.returncode != 0
    assert f"gRPC cannot listen on 127.0.0.1:{port}" in second.stdout + second.stderr
