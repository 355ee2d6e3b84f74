"""The pipeline's gRPC client: its URL, and answers checked as the REST client checks
them (a malformed answer is the server's fault: retry, never a wrong record)."""

import numpy as np
import pytest

from fashion_pubsub.serving.client import open_model_client
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError
from fashion_pubsub.serving.grpc_client import GrpcServingClient
from fashion_pubsub.serving.protos import inference_pb2 as oip


def test_urls_pick_the_client_and_the_version() -> None:
    client = open_model_client("grpc://127.0.0.1:8500/fashion-model/versions/3")
    assert isinstance(client, GrpcServingClient)
    assert (client.target, client.name, client.version) == ("127.0.0.1:8500", "fashion-model", "3")
    assert not isinstance(open_model_client("http://h:1/v1/models/m:predict"), GrpcServingClient)


@pytest.mark.parametrize("url", ["grpc://h:1", "grpc://h:1/m:predict", "grpc:///m"])
def test_a_bad_grpc_url_is_refused(url: str) -> None:
    with pytest.raises(ServingRequestError, match="grpc://host:port/NAME"):
        GrpcServingClient(url)


def answer(shape: list[int], data: bytes, name: str = "probabilities") -> oip.ModelInferResponse:
    response = oip.ModelInferResponse(model_version="2")
    response.outputs.add(name=name, datatype="FP32", shape=shape)
    response.raw_output_contents.append(data)
    return response


def test_a_good_answer_gives_the_probabilities() -> None:
    client = GrpcServingClient("grpc://h:1/m")
    probabilities = np.full((2, 10), 0.1, dtype=np.float32)
    got = client._probabilities(answer([2, 10], probabilities.tobytes()), 2)
    np.testing.assert_array_equal(got, probabilities)


@pytest.mark.parametrize(
    "response",
    [
        answer([2, 10], bytes(80), name="logits"),
        answer([2, 10], bytes(79)),
        answer([3, 10], bytes(120)),
        oip.ModelInferResponse(
            outputs=[oip.ModelInferResponse.InferOutputTensor(name="probabilities")]
        ),
    ],
)
def test_a_malformed_answer_is_the_servers_fault(response: oip.ModelInferResponse) -> None:
    with pytest.raises(ServingUnavailableError):
        GrpcServingClient("grpc://h:1/m")._probabilities(response, 2)


def test_a_server_that_is_not_there_is_unavailable() -> None:
    with GrpcServingClient("grpc://127.0.0.1:1/m", timeout=2) as client:
        with pytest.raises(ServingUnavailableError, match="UNAVAILABLE"):
            client.classify(np.zeros((1, 28, 28), dtype=np.uint8))
