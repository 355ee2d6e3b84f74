"""`fashion-pubsub bench --latency` in a small mode: it runs, and every record of every
round carries every stage."""

import json
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient

from fashion_pubsub.pipeline.latency import STAGES
from fashion_pubsub.settings import InfraSettings
from tests.support.bench import run_bench


@pytest.mark.kafka
@pytest.mark.slow
def test_latency_bench_runs_each_rate_and_records_every_stage(
    kafka_bootstrap: str,
    infra_settings: InfraSettings,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "latency.json"
    work = tmp_path / "work"
    flags = [
        "--latency",
        "--brokers",
        "apache-kafka",
        "--rates",
        "200",
        "--images",
        "200",
        "--paced-images",
        "60",
        "--warmup-images",
        "0",
        "--rounds",
        "1",
    ]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def topics() -> set[str]:  # Kafka's own (__consumer_offsets, ...) come when first used
        return {t for t in admin.list_topics(timeout=10).topics if not t.startswith("__")}

    topics_before = topics()
    run_bench(flags, data_dir=data_dir, workdir=work, output=output, infra=infra_settings)
    # Every run (bursts and paced rounds) used the one set of topics the bench made for the
    # broker, as a user's topics outlive the pipeline's processes, and it deleted them.
    assert topics() == topics_before
    published = [
        line
        for log in sorted(work.rglob("publisher.log"))
        for line in log.read_text().splitlines()
        if " publishing " in line
    ]
    assert len(published) == 3  # the burst and the two paced rounds
    assert len({line.split("topic=")[1].split()[0] for line in published}) == 1
    kafka = json.loads(output.read_text())["brokers"]["apache-kafka"]
    assert kafka["max_images_per_second"] > 0
    assert [rate["rate"] for rate in kafka["rates"]] == ["200", "half"]
    for rate in kafka["rates"]:
        [only] = rate["rounds"]
        assert only["images"] == 60
        assert 0 < only["p50_ms"] <= only["p99_ms"] <= only["max_ms"]
        assert set(only["stages_ms"]) == {*STAGES, "end_to_end"}
        assert sum(only["stages_ms"]["end_to_end"]["histogram"]["counts"]) == 60
    assert kafka["rates"][1]["goal_p99_ms"] == 50.0
    assert kafka["rates"][1]["rounds_met"] in (0, 1)
    # Every record of every paced round has every stage, and the feeder's clock was kept.
    logs = sorted(work.rglob("rate-*/results-0.jsonl"))
    assert len(logs) == 2
    for log in logs:
        records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
        assert len(records) == 60
        assert all(set(r["latency_ms"]) == {*STAGES, "end_to_end"} for r in records)
        arrivals = orjson.loads((log.parent / "arrivals.json").read_bytes())
        assert {r["source_file"] for r in records} <= set(arrivals)
    table = output.with_suffix(".md").read_text()
    assert "| apache-kafka | 200 | 1 | 60 |" in table and "worst round" in table
