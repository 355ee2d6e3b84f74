"""Dropping test images into the input folder: all at once, or at a steady rate."""

import os
import threading
import time
from pathlib import Path

import orjson

from fashion_pubsub.data.dataset import load_split
from fashion_pubsub.data.png import png_bytes
from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.files import write_atomically

_MIN_SLEEP_SECONDS = 0.001


class ImageFeeder:
    """Writes test images `first..first+count-1` as `<index>.png`, each atomically.

    Args:
        data_dir: the Fashion-MNIST files.
        folder: the publisher's input folder.
        first: index of the first test image.
        count: how many images.
    """

    def __init__(self, data_dir: Path, folder: Path, first: int, count: int) -> None:
        test = load_split(data_dir, "test")
        if not 0 < count <= len(test.images) - first:
            raise ConfigurationError(
                f"--images must be between 1 and {len(test.images) - first}, got {count}"
            )
        self._pngs = [
            (f"{i}.png", png_bytes(test.images[i], int(test.labels[i])))
            for i in range(first, first + count)
        ]
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._thread: threading.Thread | None = None
        self.arrivals: dict[str, float] = {}
        """File name -> Unix time just before it was put into the folder: the feeder's own
        clock, where the run's latency starts (the product's clock could flatter it)."""

    def write_all(self) -> None:
        for name, data in self._pngs:
            self.arrivals[name] = time.time()
            write_atomically(self._folder / name, data)

    def start_paced(self, per_second: float) -> None:
        """Move images into the folder in the background at `per_second`, on a fixed
        schedule (never early; above 1,000 per second a millisecond's files at a time), as
        an atomic drop (write elsewhere, then rename in) does.

        The files are written to a staging folder beside it first: the run should measure
        the pipeline, not the cost of creating its input files, which on this VM's ext4
        disk was often 0.3-0.7 ms of CPU per new file (tmpfs: ~30 us), while a rename
        costs ~15 us.
        """
        staging = self._folder.parent / f".{self._folder.name}-staging"
        staging.mkdir(parents=True, exist_ok=True)
        for name, data in self._pngs:
            write_atomically(staging / name, data)
        self._thread = threading.Thread(target=self._paced, args=(staging, per_second), daemon=True)
        self._thread.start()

    def _paced(self, staging: Path, per_second: float) -> None:
        # Sleeping at least _MIN_SLEEP_SECONDS lets one wake-up move every file due by
        # then: a wake-up per file cost this thread 45 µs of CPU per file at 2,400 files/s
        # (on the cores the pipeline needs); files come in clumps of up to a millisecond,
        # each stamped when it is moved.
        start = time.monotonic()
        for i, (name, _) in enumerate(self._pngs):
            delay = start + i / per_second - time.monotonic()
            if delay > 0:
                time.sleep(max(delay, _MIN_SLEEP_SECONDS))
            self.arrivals[name] = time.time()
            os.replace(staging / name, self._folder / name)

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the paced feeding has moved every file (or `timeout` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def save_arrivals(self, path: Path) -> None:
        """Write the arrival times as JSON (name -> Unix seconds) to `path`.

        Args:
            path: where; its folder must exist.
        """
        write_atomically(path, orjson.dumps(self.arrivals))
