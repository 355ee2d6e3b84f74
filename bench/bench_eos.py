"""Exactly-once against at-least-once on Kafka: images/s of the whole pipeline (publisher,
subscriber, model server), one node and a 3-node cluster, in one run.

The two modes alternate round by round on the same broker and model server, so a
machine that gets busier or quieter during the run weighs on both alike. Each round is
a burst of `--images` test images on fresh topics; the best round of each mode is its
capacity (as timeit takes the fastest repeat), every round is recorded.

    .venv/bin/python bench/bench_eos.py --images 3000 --rounds 3

The exactly-once subscribers commit every `transaction_interval_seconds` (0.1 s unless
FASHION_PUBSUB_SUBSCRIBER_TRANSACTION_INTERVAL_SECONDS says otherwise; 0 measures one
commit per batch); the results record the interval used.
"""

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fashion_pubsub.demo.runner import RunPlan, run_pipeline
from fashion_pubsub.demo.stack import Stack
from fashion_pubsub.infra.ports import free_port_block
from fashion_pubsub.settings import DataSettings, InfraSettings, SubscriberSettings, TopicSettings

ROOT = Path(__file__).resolve().parents[1]
MODES = ("at-least-once", "exactly-once")


def measure(nodes: int, images: int, rounds: int, work: Path) -> dict[str, Any]:
    base = free_port_block(2 * nodes + 1)
    infra = InfraSettings(
        state_dir=work / f"kafka-{nodes}",
        kafka_home=ROOT / ".cache" / "kafka",
        kafka_pom=ROOT / "infra" / "kafka" / "pom.xml",
        kafka_port=base,
        kafka_controller_port=base + 1,
        kafka_nodes=nodes,
        start_timeout_seconds=120,
    )
    plan = RunPlan(
        broker="apache-kafka",
        images=images,
        data_dir=DataSettings().data_dir,
        run_dir=work / f"runs-{nodes}",
        model_base_path=ROOT / "models" / "fashion-model",
        server_port=base + 2 * nodes,
        infra=infra,
        discard_topics=True,
    )
    figures: dict[str, list[float]] = {mode: [] for mode in MODES}
    with Stack(infra, work / f"logs-{nodes}") as stack:
        stack.ensure_broker("apache-kafka")
        stack.ensure_model_server(plan.status_url, plan.model_base_path, plan.server_port)
        warm = replace(plan, images=min(images, 1000), run_dir=plan.run_dir / "warm-up")
        run_pipeline(replace(warm, topics=TopicSettings.for_run("eos")))
        for number in range(1, rounds + 1):
            order = MODES if number % 2 else MODES[::-1]
            for mode in order:
                run = replace(
                    plan,
                    delivery=mode,
                    run_dir=plan.run_dir / f"{mode}-{number}",
                    topics=TopicSettings.for_run("eos"),
                )
                rate = run_pipeline(run).summary.images_per_second
                figures[mode].append(round(rate, 1))
                print(f"{nodes} node(s) {mode} round {number}: {rate:.0f} images/s", flush=True)
    best = {mode: max(rates) for mode, rates in figures.items()}
    cost = 1 - best["exactly-once"] / best["at-least-once"]
    return {"rounds": figures, "best": best, "exactly_once_cost": round(cost, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", default="1,3", help="Cluster sizes to measure.")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/eos.json")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "images": args.images,
        "started": time.time(),
        # The subscribers inherit this process's environment, so they use the same.
        "transaction_interval_seconds": SubscriberSettings().transaction_interval_seconds,
    }
    with tempfile.TemporaryDirectory(prefix="bench-eos-") as folder:
        for nodes in (int(n) for n in args.nodes.split(",")):
            results[f"{nodes}-node"] = measure(nodes, args.images, args.rounds, Path(folder))
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
