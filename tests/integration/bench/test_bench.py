"""`fashion-pubsub bench` in a small mode, so the benchmark keeps working."""

import json
from pathlib import Path

import pytest

from fashion_pubsub.bench.figures import filesystem_type
from fashion_pubsub.settings import InfraSettings
from tests.support.bench import run_bench


@pytest.mark.kafka
@pytest.mark.pubsub
@pytest.mark.slow
def test_small_bench_measures_both_brokers_against_the_old_path(
    kafka_bootstrap: str,
    pubsub_emulator_host: str,
    infra_settings: InfraSettings,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    output, work = tmp_path / "bench.json", tmp_path / "work"
    flags = [
        "--images",
        "300",
        "--baseline-images",
        "60",
        "--paced-images",
        "100",
        "--warmup-images",
        "50",
        "--rounds",
        "2",
    ]
    run_bench(flags, data_dir=data_dir, workdir=work, output=output, infra=infra_settings)
    figures = json.loads(output.read_text())
    for broker in ("apache-kafka", "google-pubsub"):
        runs = figures["brokers"][broker]
        assert runs["pipeline"]["images"] == 300 and runs["warmup_images"] == 50
        assert runs["baseline"]["images"] == 60
        assert runs["pipeline"]["images_per_second"] > 0
        assert runs["speedup"] > 0
        assert runs["pipeline"]["accuracy"] > 0.85
        assert runs["half_rate"]["images"] == 100
        assert "lead_in_images" not in runs["half_rate"]  # every image counts
        assert set(runs["half_rate"]["stages_ms"]) >= {"pickup", "broker", "end_to_end"}
        # Each round is recorded; the rate shown is the best round's.
        assert len(runs["pipeline_rounds"]) == 2 and len(runs["half_rate_rounds"]) == 2
        assert runs["pipeline"]["images_per_second"] == max(runs["pipeline_rounds"])
        # Latency is the median round's; with two rounds, the worse of the two.
        p99s = sorted(latency["p99"] for latency in runs["half_rate_rounds"])
        assert runs["half_rate"]["latency_ms"]["p99"] == p99s[1]
    # The latency run stages its files, then renames every one of them into the input folder.
    staged = [p for p in (tmp_path / "work").rglob("*") if ".input-images-staging" in str(p)]
    assert staged and all(p.is_dir() for p in staged)
    assert figures["machine"]["workdir_filesystem"] == filesystem_type(tmp_path)
    table = output.with_suffix(".md").read_text()
    assert "| apache-kafka | baseline |" in table and "speed-up" in table
    assert f"folders on {filesystem_type(tmp_path)}" in table
    assert "apache-kafka pipeline: 2 rounds" in table


@pytest.mark.skipif(not Path("/proc/self/mountinfo").exists(), reason="reads Linux mounts")
def test_the_figures_name_the_file_system_the_folders_are_on() -> None:
    assert filesystem_type(Path("/proc/self/status")) == "proc"
    assert filesystem_type(Path("/dev/shm/not-created-yet")) == "tmpfs"
