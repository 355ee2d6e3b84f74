"""How steady is this machine? The same CPU-bound work, timed again and again.

Each sample runs one fixed workload (integer arithmetic and CRC-32 over 64 KiB) and
records the CPU time it took, so other processes waiting for the CPU do not count; then
it sleeps. On a machine with a steady CPU the samples agree within a few per cent. Run it
on an otherwise idle machine:

    .venv/bin/python bench/machine_noise.py               # 40 samples, 0.5 s apart
    .venv/bin/python bench/machine_noise.py --samples 100 --gap 0.2

Prints the samples in ms and their spread (slowest / fastest, p90 / median).
"""

import argparse
import os
import statistics
import time
import zlib

_BLOCK = os.urandom(1 << 16)


def workload_ms() -> float:
    started = time.process_time()
    total = 0
    for number in range(300_000):
        total += number * number % 7
    for _ in range(200):
        zlib.crc32(_BLOCK)
    return (time.process_time() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between samples")
    args = parser.parse_args()
    samples = []
    for _ in range(args.samples):
        samples.append(workload_ms())
        time.sleep(args.gap)
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    print(" ".join(f"{sample:.1f}" for sample in samples))
    print(
        f"fastest {ordered[0]:.1f} ms, median {median:.1f}, p90 {p90:.1f}, slowest "
        f"{ordered[-1]:.1f}: slowest/fastest {ordered[-1] / ordered[0]:.2f}, "
        f"p90/median {p90 / median:.2f}"
    )
