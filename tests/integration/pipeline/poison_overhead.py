"""How much longer issue 13's acceptance run takes with its poison than without (`--help`).

Runs tests/integration/pipeline/poison_run.py (the body of test_poison_acceptance.py)
with and without the 20 poison files and 50 poison messages, on fresh topics and folders
each time, against one model server, and prints the median seconds and their ratio.
Needs the brokers in FASHION_PUBSUB_KAFKA_BOOTSTRAP / PUBSUB_EMULATOR_HOST and the data in
FASHION_PUBSUB_DATA_DIR; run from the repository's root as
`python -m tests.integration.pipeline.poison_overhead --broker apache-kafka` (it is built
on the tests' harness, so it lives beside them)."""

import argparse
import os
import signal
import statistics
import tempfile
from pathlib import Path


def measure(broker: str, url: str, data_dir: Path, poison: bool) -> float:
    """Seconds of one run, checked like the test checks it.

    Args:
        broker: `apache-kafka` or `google-pubsub`.
        url: the model server's predict URL.
        data_dir: the Fashion-MNIST files.
        poison: whether to add the poison.
    """
    from tests.integration.pipeline.conftest import Lane
    from tests.integration.pipeline.poison_run import check, run

    variable = (
        "FASHION_PUBSUB_KAFKA_BOOTSTRAP" if broker == "apache-kafka" else "PUBSUB_EMULATOR_HOST"
    )
    with tempfile.TemporaryDirectory() as root:
        lane = Lane(broker, os.environ[variable], Path(root), url)
        lane.broker().ensure_topics()
        try:
            outcome = run(lane, data_dir, poison)
            check(lane, outcome)
        finally:
            lane.close()
    print(f"  poison={poison}: {outcome.elapsed:.1f} s ({outcome.recorded_after:.1f} s to records)")
    return outcome.elapsed


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=["apache-kafka", "google-pubsub"], required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # `timeout` or `kill` sends SIGTERM: unwind, so the lanes and the server are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    from tests.conftest import free_port
    from tests.integration.pipeline.conftest import start_server, stop

    data_dir = Path(os.environ["FASHION_PUBSUB_DATA_DIR"])
    with tempfile.TemporaryDirectory() as logs:
        port = free_port()
        server = start_server(port, Path(logs) / "server.log")
        url = f"http://127.0.0.1:{port}/v1/models/fashion-model:predict"
        try:
            times = {False: [], True: []}
            for _ in range(args.rounds):  # alternated, so drift in machine load hits both
                for poison in (False, True):
                    times[poison].append(measure(args.broker, url, data_dir, poison))
        finally:
            stop(server)
    clean, poisoned = (statistics.median(times[p]) for p in (False, True))
    print(f"{args.broker}: without poison {' / '.join(f'{t:.1f}' for t in times[False])} s")
    print(f"{args.broker}: with poison    {' / '.join(f'{t:.1f}' for t in times[True])} s")
    print(f"{args.broker}: median {clean:.1f} s vs {poisoned:.1f} s, ratio {poisoned / clean:.2f}")


if __name__ == "__main__":
    main()
