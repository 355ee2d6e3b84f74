"""The Kafka broker restarted in the middle of a run: nothing is lost."""

import time
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.demo.feeder import ImageFeeder
from fashion_pubsub.infra import kafka
from fashion_pubsub.settings import InfraSettings
from tests.conftest import make_infra_settings

from .conftest import Lane
from .test_end_to_end import check_exactly_once


@pytest.mark.kafka
@pytest.mark.slow
def test_kafka_restart_during_a_run_loses_nothing(
    tmp_path: Path, data_dir: Path, model_server: str, expected_labels: np.ndarray
) -> None:
    infra: InfraSettings = make_infra_settings(tmp_path / "kafka")
    kafka.start(infra)
    lane = Lane("apache-kafka", kafka.address(infra), tmp_path, model_server)
    try:
        lane.broker().ensure_topics()
        lane.subscriber()
        lane.publisher()
        ImageFeeder(data_dir, lane.folder("input"), 0, 600).write_all()
        lane.wait_for_records(1)
        kafka.shutdown(infra)
        ImageFeeder(data_dir, lane.folder("input"), 600, 400).write_all()
        time.sleep(3)
        kafka.start(infra)
        check_exactly_once(lane, 1000, expected_labels)
        for name in ("subscriber", "publisher"):
            lines = (tmp_path / f"{name}.log").read_text().splitlines()
            # librdkafka's own stderr format is `%3|<time>|FAIL|rdkafka#producer-1| ...`
            assert not [line for line in lines if line.startswith("%")], name
            refused = [line for line in lines if "Connection refused" in line]
            assert 0 < len(refused) <= 12, (name, refused)  # each kind once per 30 s
    finally:
        lane.close()
        kafka.shutdown(infra)
