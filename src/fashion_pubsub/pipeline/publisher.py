"""`fashion-pubsub publish`: files in the input folder -> the input topic, in batches.

A file moves to published/ only after the broker confirmed its message; a file
that is not a usable image moves to rejected/ with a `.reason` note; nothing
stops the loop. It blocks on a queue fed by inotify, so it idles at ~0% CPU.
"""

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from fashion_pubsub.brokers.base import OutgoingMessage, Publisher
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.errors import RejectedFileError
from fashion_pubsub.pipeline.folders import move_unique
from fashion_pubsub.pipeline.images import load_image
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.watcher import FolderWatcher
from fashion_pubsub.pipeline.wire import encode
from fashion_pubsub.settings import PublisherSettings

logger = logging.getLogger(__name__)
_RETRY_SECONDS = 1.0


class FilePublisher:
    """Publishes images dropped into a folder.

    Args:
        publisher: a broker publisher for the input topic.
        settings: folders and batching.
        stats: counters to update.
    """

    def __init__(self, publisher: Publisher, settings: PublisherSettings, stats: Stats) -> None:
        self._publisher = publisher
        self._settings = settings
        self._stats = stats
        self._ready: queue.Queue[Path] = queue.Queue()
        self._confirmed = 0

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set."""
        watcher = FolderWatcher(self._settings.input_dir, self._ready)
        watcher.start()
        log_event(logger, "watching", folder=self._settings.input_dir)
        try:
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._publish_guarded(batch, stop)
                self._stats.log_every(logger)
        finally:
            watcher.stop()

    def _publish_guarded(self, paths: list[Path], stop: threading.Event) -> None:
        """A failure nobody foresaw puts the files back in the queue instead of ending the
        process; they stay in the input folder until a publish is confirmed."""
        try:
            self.publish_files(paths)
        except Exception:  # noqa: BLE001 - last line of defence, logged with its traceback
            logger.exception("batch_failed files=%d", len(paths))
            stop.wait(_RETRY_SECONDS)
            for path in paths:
                self._ready.put(path)

    def _next_batch(self, stop: threading.Event) -> list[Path]:
        try:
            first = self._ready.get(timeout=0.5)
        except queue.Empty:
            return []
        batch, seen = [first], {first}
        deadline = time.monotonic() + self._settings.max_wait_seconds
        while len(batch) < self._settings.batch_size and not stop.is_set():
            try:
                path = self._ready.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if path not in seen:
                seen.add(path)
                batch.append(path)
        return batch

    def publish_files(self, paths: list[Path]) -> None:
        """Publish the usable files among `paths`; move each to published/ or rejected/."""
        sent: list[Path] = []

        def messages() -> Iterator[OutgoingMessage]:
            # Each file is sent as soon as it is read, not after the whole batch is.
            for path in paths:
                message = self._message_for(path)
                if message is not None:
                    sent.append(path)
                    yield message

        results = self._publisher.publish(messages())
        if not results:
            return
        self._confirmed += sum(result.ok for result in results)
        _crash_if_asked(self._settings, self._confirmed)
        failed = []
        for path, result in zip(sent, results, strict=True):
            if result.ok:
                move_unique(path, self._settings.published_dir)
            else:
                failed.append(path)
                log_event(
                    logger, "publish_failed", logging.WARNING, file=path.name, error=result.error
                )
        self._stats.add(published=len(results) - len(failed), retries=len(failed))
        if failed:
            time.sleep(_RETRY_SECONDS)  # the broker is struggling: give it a moment
            for path in failed:
                self._ready.put(path)

    def _message_for(self, path: Path) -> OutgoingMessage | None:
        seen = time.time()
        try:
            pixels, label = load_image(path, self._settings.max_image_bytes)
        except FileNotFoundError:
            return None  # already handled (a path can be announced twice)
        except RejectedFileError as exc:
            self._reject(path, exc.reason)
            return None
        return encode(pixels, path.name, label, seen_at=seen, published_at=time.time())

    def _reject(self, path: Path, reason: str) -> None:
        try:
            moved = move_unique(path, self._settings.rejected_dir)
        except FileNotFoundError:
            return
        moved.with_name(moved.name + ".reason").write_text(reason + "\n", encoding="utf-8")
        self._stats.add(rejected=1)
        log_event(logger, "rejected", logging.WARNING, file=path.name, reason=reason)


def _crash_if_asked(settings: PublisherSettings, confirmed: int) -> None:
    """Test hook: die by SIGKILL once `confirmed` images are confirmed, before their files
    move, the one window where a crash makes the publisher send files again."""
    limit = settings.test_kill_before_move_after
    if limit is not None and confirmed >= limit:
        log_event(logger, "test_kill_before_move", logging.WARNING, confirmed=confirmed)
        os.kill(os.getpid(), signal.SIGKILL)
