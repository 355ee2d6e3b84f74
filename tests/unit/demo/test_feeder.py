"""The paced feeder: every file arrives, none before its time, each stamped as it lands."""

import os
from pathlib import Path

from fashion_pubsub.demo.feeder import ImageFeeder


def test_paced_files_all_arrive_none_before_their_time(data_dir: Path, tmp_path: Path) -> None:
    # 2,000 files/s is faster than the feeder's shortest sleep (1 ms): several files move
    # per wake-up, and still none earlier than the schedule says.
    folder, rate, count = tmp_path / "input", 2000.0, 300
    feeder = ImageFeeder(data_dir, folder, 0, count)
    feeder.start_paced(rate)
    feeder.wait(timeout=30)
    names = [f"{i}.png" for i in range(count)]
    assert sorted(os.listdir(folder)) == sorted(names)
    stamps = [feeder.arrivals[name] for name in names]
    assert stamps == sorted(stamps)
    # Wall-clock stamps against a monotonic schedule: allow for the clocks' coarseness.
    assert all(stamp - stamps[0] >= i / rate - 0.0005 for i, stamp in enumerate(stamps))
