"""One image followed by its trace id through the three processes' logs, as a user would:
`grep <trace id>` finds its publish, its model-server request and its result."""

import re
from pathlib import Path

import pytest

from fashion_pubsub.data.convert import png_bytes
from fashion_pubsub.data.dataset import load_split
from tests.conftest import MODEL_BASE_PATH, free_port
from tests.integration.observability.scrape import answers, wait_for
from tests.integration.pipeline.conftest import Lane

pytestmark = pytest.mark.kafka

IMAGES = 5


@pytest.mark.parametrize("lane", ["apache-kafka"], indirect=True)
def test_every_process_logs_the_images_trace_id(
    lane: Lane, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FASHION_PUBSUB_LOG_LEVEL", "DEBUG")
    port = free_port()
    lane._spawn(
        "server",
        ["serve", "--model_base_path", str(MODEL_BASE_PATH), "--rest_api_port", str(port)],
    )
    wait_for(lambda: answers(f"http://127.0.0.1:{port}/v2/health/ready"), lane.logs())
    lane.subscriber(url=f"http://127.0.0.1:{port}/v1/models/fashion-model:predict")
    lane.publisher()
    test = load_split(data_dir, "test")
    inbox = lane.folder("input")
    inbox.mkdir(parents=True, exist_ok=True)
    for i in range(IMAGES):
        (inbox / f"{i}.png").write_bytes(png_bytes(test.images[i], int(test.labels[i])))
    records = lane.wait_for_records(IMAGES)

    def log(name: str) -> str:
        return (lane.root / f"{name}.log").read_text()

    for record in records:
        trace = str(record["trace_id"])
        assert re.fullmatch(r"[0-9a-f]{32}", trace)
        assert f"image_published file={record['source_file']} trace_id={trace}" in log("publisher")
        assert f"trace_id={trace}" in log("subscriber")
        [classified] = [
            line
            for line in log("subscriber").splitlines()
            if "image_classified" in line and f" trace_id={trace}" in line
        ]
        request = re.search(r"request_trace_id=([0-9a-f]{32})", classified)
        assert request is not None
        served = f" trace_id={request[1]}"
        wait_for(lambda s=served: _served(log("server"), s), "the request's trace id, served")


def _served(log: str, ending: str) -> bool:
    return any(
        "request_served path=/v2/models/fashion-model/infer status=200" in line
        and line.endswith(ending)
        for line in log.splitlines()
    )
