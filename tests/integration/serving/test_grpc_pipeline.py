"""The pipeline over gRPC: `subscribe --url grpc://host:port/NAME` classifies real test
images from the real Kafka through `serve --port`, exactly once, as ONNX Runtime does."""

from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.classes import CLASS_NAMES, safe_class_name
from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.demo.feeder import ImageFeeder
from fashion_pubsub.model.evaluate import predict_onnx
from tests.conftest import MODEL_BASE_PATH, served_model_version
from tests.integration.pipeline.conftest import Lane
from tests.support.grpc_serving import running_server

COUNT = 300


@pytest.mark.kafka
def test_the_subscriber_classifies_over_grpc(
    tmp_path: Path, kafka_bootstrap: str, data_dir: Path
) -> None:
    expected = predict_onnx(
        served_model_version() / "model.onnx", load_split(data_dir, "test").images[:COUNT]
    ).argmax(axis=1)
    with running_server(tmp_path, "--model_base_path", str(MODEL_BASE_PATH)) as server:
        lane = Lane(
            "apache-kafka", kafka_bootstrap, tmp_path, f"grpc://{server.target}/fashion-model"
        )
        lane.broker().ensure_topics()
        try:
            ImageFeeder(data_dir, lane.folder("input"), 0, COUNT).write_all()
            lane.subscriber()
            lane.publisher()
            records = lane.wait_for_records(COUNT)
        finally:
            lane.close()
    assert "Open Inference Protocol over gRPC" in lane.logs()
    by_source = {str(r["source_file"]): r for r in records}
    assert sorted(by_source) == sorted(f"{i}.png" for i in range(COUNT)) and len(records) == COUNT
    predicted = np.array([by_source[f"{i}.png"]["predicted_label"] for i in range(COUNT)])
    np.testing.assert_array_equal(predicted, expected)
    assert {r["model_version"] for r in records} == {served_model_version().name}
    outputs = sorted(p.name for p in lane.folder("output").iterdir() if p.suffix == ".png")
    assert outputs == sorted(
        f"{i}-{safe_class_name(CLASS_NAMES[label])}.png" for i, label in enumerate(expected)
    )
