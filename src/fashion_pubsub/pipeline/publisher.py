"""`fashion-pubsub publish`: files in the input folder -> the input topic, in batches.

A file moves to published/ only after the broker confirmed its message, and only if it is
still the file that was read; a file that is not a usable image moves to rejected/ with a
`.reason` note. Whatever one file is or holds is that file's fate, never the batch's:
nothing stops the loop. It blocks on a queue fed by inotify, so it idles at ~0% CPU.
"""

import heapq
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from fashion_pubsub.brokers.base import OutgoingMessage, Publisher
from fashion_pubsub.files import FileIdentity, candidates, move_unique, write_atomically
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.batching import StreamPace, is_backlog
from fashion_pubsub.pipeline.errors import RejectedFileError
from fashion_pubsub.pipeline.folders import (
    REASON_SUFFIX,
    finish_interrupted_moves,
    write_reason,
)
from fashion_pubsub.pipeline.images import load_image
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.watcher import FolderWatcher
from fashion_pubsub.pipeline.wire import encode
from fashion_pubsub.pipeline.writers import OpenWriters
from fashion_pubsub.settings import PublisherSettings
from fashion_pubsub.tracing import TraceContext, trace_id_in

logger = logging.getLogger(__name__)
_RETRY_SECONDS = 1.0
_REJECT_RETRY_SECONDS = 10.0  # rejected/ unusable: nothing is lost by waiting, logs stay calm


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
        self._published = settings.published_dir.resolve()
        self._rejected = settings.rejected_path().resolve()
        self._own_names = {self._published.name, self._rejected.name}
        self._ready: queue.Queue[Path] = queue.Queue()
        self._pace = StreamPace(settings.stream_wait_seconds)
        self._later: list[tuple[float, Path]] = []  # (when, path): looked at again then
        self._confirmed: dict[Path, FileIdentity] = {}  # sent, but not moved yet
        self._left: set[FileIdentity] = set()  # rejected but unmovable: noted once
        self._writers = OpenWriters(settings.input_dir)
        self._confirmed_images = 0  # for the test hook below

    def run(self, stop: threading.Event) -> None:
        """Publish until `stop` is set."""
        settings = self._settings
        finish_interrupted_moves(settings.input_dir, self._published, self._rejected)
        watcher = FolderWatcher(settings.input_dir, self._ready)
        watcher.start()
        log_event(logger, "watching", folder=settings.input_dir, rejected=self._rejected)
        try:
            while not stop.is_set():
                self._release_due()
                batch = self._next_batch(stop)
                if batch:
                    self._publish_guarded(batch, stop)
                self._stats.log_every(logger)
        finally:
            watcher.stop()

    def offer(self, path: Path) -> None:
        """Queue `path` to be looked at (the watcher does this for the input folder)."""
        self._ready.put(path)

    def drain(self, rounds: int = 100) -> None:
        """Publish everything queued, and look again at once at what waits to be looked
        at again, until nothing is left or after `rounds` batches (for tests; `run` is
        the service loop)."""
        for _ in range(rounds):
            self._release_due(force=True)
            if self._ready.empty():
                return
            batch = self._next_batch(threading.Event())
            if batch:
                self.publish_files(batch)

    def _publish_guarded(self, paths: list[Path], stop: threading.Event) -> None:
        """A failure nobody foresaw (the broker client, say) puts the files back in the queue
        instead of ending the process; they stay in the input folder until a publish is
        confirmed. One file's problem never gets here: `_message_for` keeps it to itself."""
        try:
            self.publish_files(paths)
        except Exception:  # noqa: BLE001 - last line of defence, logged with its traceback
            logger.exception("batch_failed files=%d", len(paths))
            stop.wait(_RETRY_SECONDS)
            for path in paths:
                self._ready.put(path)

    def _next_batch(self, stop: threading.Event) -> list[Path]:
        """The next files to send, at most `batch_size`: adaptive batching.

        What is waiting is taken at once; idle (nothing waiting when asked), the first
        file to come goes at once with whatever came with it. Behind a backlog the batch
        may take `max_wait_seconds` to fill, and in a steady stream of files closer
        together than `stream_wait_seconds` that long, so the per-batch costs are shared
        by more files (pipeline/batching.py says what was measured).
        """
        try:
            first = self._ready.get_nowait()
            backlog = is_backlog(self._ready.qsize() + 1, self._settings.batch_size)
        except queue.Empty:
            try:
                first, backlog = self._ready.get(timeout=0.5), False
            except queue.Empty:
                return []
        batch, seen = [first], {first}
        start = time.monotonic()
        window = self._settings.max_wait_seconds if backlog else self._pace.window(start)
        deadline = start + window
        while len(batch) < self._settings.batch_size and not stop.is_set():
            try:
                path = self._ready.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                break
            if path not in seen:
                seen.add(path)
                batch.append(path)
        self._pace.taken(start, len(batch))
        return batch

    def publish_files(self, paths: list[Path]) -> None:
        """Publish the usable files among `paths`; move each to published/ or rejected/."""
        sent: list[tuple[Path, FileIdentity]] = []

        def messages() -> Iterator[OutgoingMessage]:
            # Each file is sent as soon as it is read, not after the whole batch is.
            for path in paths:
                found = self._message_for(path)
                if found is not None:
                    sent.append((path, found[1]))
                    yield found[0]

        results = self._publisher.publish(messages())
        if not results:
            return
        self._confirmed_images += sum(result.ok for result in results)
        _crash_if_asked(self._settings, self._confirmed_images)
        failed = []
        debug = logger.isEnabledFor(logging.DEBUG)  # a line per image only when asked for
        for (path, identity), result in zip(sent, results, strict=True):
            # Parsed back only for a log line: it cost ~3.5 µs per file.
            trace_id = trace_id_in(result.message.attributes) if debug or not result.ok else None
            if result.ok:
                self._finish(path, identity)
                if debug:
                    log_event(
                        logger, "image_published", logging.DEBUG, file=path.name, trace_id=trace_id
                    )
            else:
                failed.append(path)
                log_event(
                    logger,
                    "publish_failed",
                    logging.WARNING,
                    file=path.name,
                    error=result.error,
                    trace_id=trace_id,
                )
        self._stats.add(published=len(results) - len(failed), retries=len(failed))
        for path in failed:  # the broker is struggling: give it a moment
            self._look_again(path, time.time() + _RETRY_SECONDS)

    def _message_for(self, path: Path) -> tuple[OutgoingMessage, FileIdentity] | None:
        """The message for one file, or None when it is not to be sent (now). Whatever the
        file is or holds ends here, as this file's rejection."""
        if path.name in self._own_names and path in (self._published, self._rejected):
            return None  # our own output folders, when they sit inside the input folder
        if self._confirmed and path in self._confirmed:
            if self._finish(path, self._confirmed[path]):
                return None  # sent already; only its move was left to do
        seen = time.time()
        try:
            image = load_image(path, self._settings.max_image_bytes)
        except FileNotFoundError:
            return None  # already handled (a path can be announced twice)
        except RejectedFileError as exc:
            self._guarded_reject(exc)
            return None
        except Exception as exc:  # noqa: BLE001 - one file's surprise is that file's fate
            logger.exception("unexpected_file_error file=%r", path.name)
            reason = f"unexpected error reading it ({type(exc).__name__}: {exc})"
            self._guarded_reject(RejectedFileError(path, reason))
            return None
        # Each image starts its own trace, which follows it to its result (tracing.py).
        trace = TraceContext.start().header
        # Latency starts when the file appeared (its change time), not at pickup, so the
        # time a file waits for the publisher counts (docs/pipeline.md, "Latency").
        message = encode(
            image.pixels,
            path.name,
            image.label,
            seen,
            published_at=time.time(),
            arrived_at=image.changed_at,
            traceparent=trace,
        )
        return message, image.identity

    def _finish(self, path: Path, identity: FileIdentity) -> bool:
        """Move a confirmed file to published/; False if `path` is now another file."""
        try:
            moved = move_unique(path, self._published, identity)
        except FileNotFoundError:
            self._confirmed.pop(path, None)
            return True
        except OSError as exc:
            # Sent: it must not be sent again. Keep it in mind and try the move later.
            if path not in self._confirmed:
                log_event(
                    logger, "move_failed", logging.WARNING, file=path.name, error=exc.strerror
                )
            self._confirmed[path] = identity
            self._look_again(path, time.time() + _RETRY_SECONDS)
            return True
        self._confirmed.pop(path, None)
        if moved is None:
            # Replaced under the same name since it was read: the new file has its own turn.
            log_event(logger, "file_replaced", file=path.name)
            self._ready.put(path)
            return False
        return True

    def _guarded_reject(self, exc: RejectedFileError) -> None:
        """Reject, and if even that fails (rejected/ not writable, a full disk), leave the
        file where it is and try again later, without touching the rest of the batch."""
        try:
            self._reject_when_settled(exc)
        except OSError as error:
            log_event(
                logger,
                "reject_failed",
                logging.WARNING,
                file=exc.path.name,
                reason=exc.reason,
                error=error.strerror or str(error),
            )
            self._look_again(exc.path, time.time() + _REJECT_RETRY_SECONDS)

    def _reject_when_settled(self, exc: RejectedFileError) -> None:
        """Reject now, or look again later: content that looks truncated may be a writer
        still at work (on a file found by the start-up scan), so a file changed moments
        ago, or held open for writing by a process, is not judged yet."""
        identity = exc.identity
        if exc.unfinished and identity is not None:
            changed = identity.mtime_ns / 1e9
            if 0 <= time.time() - changed < self._settings.settle_seconds:
                self._look_again(exc.path, changed + self._settings.settle_seconds)
                return
            if self._writers.holds(identity.device, identity.inode):
                # Its close brings it back (IN_CLOSE_WRITE); the look is a safety net.
                self._look_again(exc.path, time.time() + _REJECT_RETRY_SECONDS)
                return
        self._reject(exc.path, exc.reason, identity)

    def _reject(self, path: Path, reason: str, identity: FileIdentity | None) -> None:
        try:
            moved = move_unique(path, self._rejected, identity)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._leave(path, reason, identity, exc)
            return
        if moved is None:
            self._ready.put(path)  # replaced since it was judged: judge the new file
            return
        write_reason(moved, reason)
        self._stats.add_rejected(reason)
        log_event(logger, "rejected", logging.WARNING, file=path.name, reason=reason)

    def _leave(self, path: Path, reason: str, identity: FileIdentity | None, exc: OSError) -> None:
        """A rejected entry that cannot be moved (a named pipe when rejected/ is on another
        file system, say) stays in place; its note says so, once."""
        if identity is None or identity in self._left:
            return
        self._left.add(identity)
        self._rejected.mkdir(parents=True, exist_ok=True)
        # Another rejected file of that name keeps its own note.
        names = candidates(self._rejected, path.name + REASON_SUFFIX)
        note = next(name for name in names if not os.path.lexists(name))
        text = f"{reason}\nleft in {path.parent}: it cannot be moved here ({exc.strerror})\n"
        write_atomically(note, text.encode("utf-8", "backslashreplace"))
        self._stats.add_rejected(reason)
        log_event(logger, "rejected_in_place", logging.WARNING, file=path.name, reason=reason)

    def _look_again(self, path: Path, when: float) -> None:
        heapq.heappush(self._later, (when, path))

    def _release_due(self, *, force: bool = False) -> None:
        now = time.time()
        while self._later and (force or self._later[0][0] <= now):
            self._ready.put(heapq.heappop(self._later)[1])


def _crash_if_asked(settings: PublisherSettings, confirmed: int) -> None:
    """Test hook: die by SIGKILL once `confirmed` images are confirmed, before their files
    move, the one window where a crash makes the publisher send files again."""
    limit = settings.test_kill_before_move_after
    if limit is not None and confirmed >= limit:
        log_event(logger, "test_kill_before_move", logging.WARNING, confirmed=confirmed)
        os.kill(os.getpid(), signal.SIGKILL)
