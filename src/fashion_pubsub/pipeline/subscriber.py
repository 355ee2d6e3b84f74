"""`fashion-pubsub subscribe`: batches from the input topic -> one predict request per
batch -> `<stem>-<Class>.png`, a result record, a `predictions` message -> then ack.

While the writer threads record one batch, the main thread receives and classifies the
next, so the model server, the file system and the broker work at the same time. A
classified batch's output files are written at once in a file thread; its predictions
and log lines follow in the writer thread, so a file never waits for the broker (see
pipeline/recorder.py). Acks and nacks stay on the main thread.

Nothing is acknowledged before its result is written. A failure belongs to the
message that caused it: a message that cannot be decoded is dead-lettered at once
with the reason; when a request or a recording fails for a reason that is not
clearly transient, the batch is split in halves until the culprit is alone, so the
others go through at once, and the culprit is given back and counted, then
dead-lettered with its last error after `max_attempts` failures. A model server
that is down is waited for as long as it takes, the batch held (Pub/Sub leases
extended, Kafka partitions paused) so no delivery attempt is counted. An image
delivered twice gets one record.

At-least-once, two batches are in flight: each batch settles (is acked) before the
main thread goes on past the next. Exactly-once (Kafka, `channels.transactions` set),
up to `_MAX_PUBLISHING` batches may be publishing their predictions and dead letters
into the open transaction, in order, while the main thread goes on (behind a backlog
none: each waits for the one before); they settle into it, oldest first, as their
publishing ends. The transaction commits them together with the offsets of all its
batches every `transaction_interval_seconds` (and when idle, before a rebalance, during
a model server outage and at close: see transaction.py), once none is publishing any
more. A batch not wholly done aborts the whole transaction (once the batches after it
have finished publishing into it: they come again too), so read_committed readers never
see a half-done batch. Records go to the results log only after the commit (through the
commit journal), so an aborted batch never looks done.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np

from fashion_pubsub.brokers.base import (
    Consumer,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
)
from fashion_pubsub.brokers.errors import (
    PublishError,
    TransactionFencedError,
)
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.logs import log_each_at_debug, log_event
from fashion_pubsub.pipeline.batching import is_backlog
from fashion_pubsub.pipeline.errors import HoldExpiredError, WireFormatError
from fashion_pubsub.pipeline.journal import CommitJournal
from fashion_pubsub.pipeline.latency import PredictTimes
from fashion_pubsub.pipeline.outcome import FailureCounter, Item, Outcome, describe, halves
from fashion_pubsub.pipeline.outputs import remove_stale_temporaries
from fashion_pubsub.pipeline.recorder import Classified, Recorder, Written
from fashion_pubsub.pipeline.results import DoneIndex
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.transaction import OpenTransaction
from fashion_pubsub.pipeline.wire import decode
from fashion_pubsub.serving.client import Prediction
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError
from fashion_pubsub.serving.model_client import ModelClient
from fashion_pubsub.settings import SubscriberSettings
from fashion_pubsub.tracing import trace_id_in

logger = logging.getLogger(__name__)
# How long a receive waits for a first message before the loop settles the batch in
# flight and looks again: it returns at the first message, so this costs no latency.
_FIRST_MESSAGE_WAIT_SECONDS = 0.005
# Exactly-once: how long the main thread waits for the batch before to finish publishing
# into the open transaction, and how many batches may be publishing while it goes on.
# The first publish after a commit often waits 20 ms in librdkafka (its
# AddPartitionsToTxn meets CONCURRENT_TRANSACTIONS while the coordinator finishes the
# commit, and is retried after a fixed 20 ms): waiting for it held the main loop, and
# the images behind it, that long after one commit in five at 1,000 images/s. Not
# waiting at all made batches smaller and bursts ~4 % slower (4,563 against 4,757
# images/s, 9 pairs), so a batch is waited for as long as a publish usually takes, and
# always behind a backlog; beyond `_MAX_PUBLISHING` the oldest is waited for, so a slow
# broker still slows the input.
_PUBLISH_PATIENCE_SECONDS = 0.005
_MAX_PUBLISHING = 8


@dataclass(frozen=True)
class Channels:
    """Where the subscriber reads and writes on the broker; `transactions` is set when
    the consumer and publishers belong to one transactional session (exactly-once)."""

    consumer: Consumer
    predictions: Publisher
    dead_letters: Publisher
    transactions: TransactionalSession | None = None


@dataclass
class _Batch:
    """A batch whose outcome is still being decided: what is decided so far, and the
    recording job (in the writer thread) that decides the rest."""

    messages: Sequence[Message]
    outcome: Outcome = field(default_factory=Outcome)
    recording: "Future[Outcome] | None" = None
    epoch: int = 0  # exactly-once: the input's rewinds when it came; after another, it is void


class ImageSubscriber:
    """Classifies images from the input topic.

    Args:
        channels: input consumer, predictions and dead-letter publishers.
        client: the model server client.
        settings: output folder, results log, batching, patience, attempts.
        stats: counters to update.
    """

    def __init__(
        self, channels: Channels, client: ModelClient, settings: SubscriberSettings, stats: Stats
    ) -> None:
        self._channels = channels
        self._client = client
        self._settings = settings
        self._stats = stats
        self._index = DoneIndex(settings.results_path().parent, own_log=settings.results_path())
        self._exactly_once = channels.transactions is not None
        self._recorder = Recorder(
            channels.predictions, settings, self._index, stats, deferred=self._exactly_once
        )
        self._transaction: OpenTransaction | None = None
        if channels.transactions is not None:
            journal = CommitJournal(settings.results_path().with_suffix(".commit.json"))
            self._transaction = OpenTransaction(
                channels.transactions,
                self._recorder,
                journal,
                settings.transaction_interval_seconds,
            )
        self._failures = FailureCounter()
        self._backoff = 0.0
        self._retry_pause = 0.0
        # One thread each: a second file thread costs more CPU than it saves (recorder.py).
        self._files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outputs")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._in_flight: deque[_Batch] = deque()  # oldest first
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temporaries(settings.output_dir):
            log_event(logger, "stale_temporary_removed", file=stale.name)

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set."""
        self.start()
        try:
            while not stop.is_set():
                self.step(stop)
                self._stats.log_every(logger)
        finally:
            self.close()

    def start(self) -> None:
        """Read the results so far and reach the model server; call once before `step`."""
        self._index.refresh(rescan=True)
        if self._transaction is not None:
            self._transaction.recover(self._index)
        log_event(
            logger,
            "subscribed",
            output=self._settings.output_dir,
            known_results=len(self._index.done),
            exactly_once=self._exactly_once,
        )
        self._connect_model_server()
        # A Kafka rebalance first lets the batch being written finish and be acknowledged
        # (exactly-once: the open transaction commit), so the committed offsets cover it
        # and the new owner does not read it again.
        self._channels.consumer.on_release(self._settle_and_commit)

    def step(self, stop: threading.Event) -> int:
        """Receive and process one batch (or settle the one in flight if none comes).
        Returns how many messages were received."""
        messages = self._receive()
        if messages:
            self._process_guarded(messages, stop)
        else:  # idle: nothing more to share the commit with, so it waits for nothing
            self._settle_and_commit()
        if self._retry_pause:
            # Given back for a transient cause (disk full, broker refusing): on Kafka they
            # come straight back, so wait rather than spin through the model server.
            stop.wait(self._retry_pause)
        return len(messages)

    def _receive(self) -> list[Message]:
        """The next batch, adaptively: what is waiting is taken at once (idle, the first
        message to come, with whatever came with it); only behind a backlog may the batch
        take `max_wait_seconds` to fill, so under load the per-batch costs (a predict
        request, a produce and its confirmation) are shared by more images
        (pipeline/batching.py says what was measured)."""
        consumer, size = self._channels.consumer, self._settings.batch_size
        messages = consumer.receive(size, 0)
        if not messages:
            return consumer.receive(size, _FIRST_MESSAGE_WAIT_SECONDS)
        if not is_backlog(len(messages), size):
            return messages
        deadline = time.monotonic() + self._settings.max_wait_seconds
        while len(messages) < size and (left := deadline - time.monotonic()) > 0:
            messages += consumer.receive(size - len(messages), left)
        return messages

    def close(self) -> None:
        """Settle the batch in flight, commit the open transaction, close the results log
        (also when the commit fails: a fenced subscriber still closes its files)."""
        try:
            self._settle_and_commit()
        finally:
            self._writer.shutdown()
            self._files.shutdown()
            self._recorder.close()

    def _connect_model_server(self) -> None:
        """Reach the model server before the first batch; if it is down, say so and go on
        (batches then wait for it, see `_classify`)."""
        try:
            protocol = self._client.connect()
        except ServingUnavailableError as exc:
            log_event(logger, "model_server_unavailable", logging.WARNING, error=exc)
        else:
            log_event(logger, "model_server", url=self._settings.url, protocol=protocol)

    def _process_guarded(self, messages: Sequence[Message], stop: threading.Event) -> None:
        """One batch; a failure nobody foresaw outside any one message's handling (the
        results folder unreadable, say) gives the batch back instead of ending the process."""
        try:
            self.process(messages, stop)
        except TransactionFencedError:
            raise  # another instance took over: this one must stop, not retry
        except Exception:  # noqa: BLE001 - last line of defence, logged with its traceback
            logger.exception("batch_failed positions=%s", _positions(messages))
            self._give_back(messages)
            stop.wait(1.0)

    def _give_back(self, messages: Sequence[Message]) -> None:
        """Give `messages` back after an unforeseen failure. Exactly-once: that aborts the
        open transaction, so the batches being recorded into it are given back too (once
        their recording is over: what they publish belongs to the transaction)."""
        if self._transaction is None:
            self._channels.consumer.nack(messages)
            return
        held = [m for batch in self._in_flight if not self._void(batch) for m in batch.messages]
        self._finish_recordings()
        self._in_flight.clear()
        self._transaction.abort(held + list(messages))

    def process(self, messages: Sequence[Message], stop: threading.Event) -> None:
        """Classify one batch and hand it to the writer thread; settle the batches before
        it. Every message ends acked, dead-lettered or given back."""
        received = time.time()
        batch = _Batch(messages, epoch=self._rewinds())
        items = self._fresh(messages, batch.outcome)
        writing = None
        if items:
            try:
                classified = self._classify_all(items, batch, stop, received)
            except HoldExpiredError:
                batch.outcome.retry += [m for item in items for m in item.messages]
            else:
                # The files need nothing from the broker: written while the batches
                # before are still being published and committed.
                writing = self._files.submit(self._recorder.write_all, classified)
        if self._transaction is not None:
            # The batches before settle first: they join the open transaction (or abort
            # it), and it commits if due, before this one publishes into it.
            self._settle_published(is_backlog(len(messages), self._settings.batch_size))
        if writing is not None and not self._void(batch):
            batch.recording = self._writer.submit(self._publish_written, writing)
            if self._transaction is not None:
                self._transaction.publishing()
        if self._transaction is None:
            self._settle()
        # Rewound past this batch (an abort meanwhile): it is void and comes again (its
        # files, if written, hold the same bytes under the same names then).
        self._in_flight.append(batch)

    def _publish_written(self, writing: "Future[tuple[list[Written], Outcome]]") -> Outcome:
        """In the writer thread: once the batch's files are written, publish and log."""
        written, outcome = writing.result()
        outcome.merge(self._recorder.publish_all(written))
        return outcome

    def _rewinds(self) -> int:
        """Exactly-once: how often the input went back to the committed offsets so far."""
        return 0 if self._transaction is None else self._transaction.rewinds

    def _void(self, batch: _Batch) -> bool:
        """Exactly-once: whether the input went back past `batch` (it comes again)."""
        return batch.epoch != self._rewinds()

    def _finish_recordings(self) -> None:
        """Wait until no batch is publishing any more."""
        wait([batch.recording for batch in self._in_flight if batch.recording is not None])

    def _fresh(self, messages: Sequence[Message], outcome: Outcome) -> list[Item]:
        """Decode, dead-letter what cannot be decoded, ack images already recorded, and
        group deliveries of the same image; returns the images to classify."""
        self._index.refresh(rescan=any(m.delivery_attempt > 1 for m in messages))
        items: dict[str, Item] = {}
        for message in messages:
            try:
                image = decode(message)
            except WireFormatError as exc:
                outcome.dead.append((message, exc.reason))
                continue
            if image.trace_error is not None:
                log_event(
                    logger,
                    "traceparent_ignored",
                    logging.WARNING,
                    position=message.position,
                    reason=image.trace_error,
                    trace_id=image.trace.trace_id,
                )
            if self._recorder.recorded(image.image_id):
                outcome.ack.append(message)
                self._stats.add(duplicates=1)
            elif image.image_id in items:
                items[image.image_id].copies.append(message)
            else:
                items[image.image_id] = Item(message, image)
        return list(items.values())

    def _classify_all(
        self, items: list[Item], batch: _Batch, stop: threading.Event, received: float
    ) -> list[Classified]:
        """Classify the items, splitting a batch the server refuses (too large, or one bad
        image) or that fails unforeseen, until the culprit is alone.

        Args:
            items: the images to classify.
            batch: the batch they belong to (its outcome collects the failures).
            stop: set when the subscriber is stopping.
            received: when the batch was received (Unix seconds), for the latency stages.
        """
        pending: list[list[Item]] = [items]
        classified: list[Classified] = []
        while pending:
            group = pending.pop()
            started = time.time()
            try:
                prediction = self._classify(group, batch, stop)
            except ServingRequestError as exc:
                if len(group) > 1:
                    pending += halves(group)
                    continue
                reason = f"model server refused the image: {exc}"
                batch.outcome.dead += [(m, reason) for m in group[0].messages]
            except HoldExpiredError:
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the culprit, count its attempt
                log_event(logger, "classify_failed", logging.WARNING, images=len(group), error=exc)
                if len(group) > 1:
                    pending += halves(group)
                    continue
                batch.outcome.failed.append((group[0], describe(exc)))
            else:
                times = PredictTimes(received, started, time.time())
                classified.append(Classified(group, prediction, times))
        return classified

    def _classify(self, group: list[Item], batch: _Batch, stop: threading.Event) -> Prediction:
        """One request; while the server is unavailable, wait for it with backoff as long
        as it takes, holding the whole batch.

        Raises:
            HoldExpiredError: `stop` was set while waiting.
        """
        images = np.stack([item.image.pixels for item in group])
        # One request, one traceparent: the first image's; each image's log line names it.
        request_trace = group[0].image.trace
        held_since = time.monotonic()
        reported: float | None = None  # the first failure is said at once, then every hold
        while True:
            try:
                prediction = self._client.classify(images, request_trace.header)
                self._backoff = 0.0
                _log_classified(group, request_trace.trace_id)
                return prediction
            except ServingUnavailableError as exc:
                self._stats.add(retries=1)
                self._backoff = min(max(self._backoff * 2, 0.1), self._settings.max_backoff_seconds)
                if stop.is_set():
                    raise HoldExpiredError("stopping while the model server is down") from exc
                now = time.monotonic()
                if reported is None or now - reported >= self._settings.hold_seconds:
                    reported = now
                    log_event(
                        logger,
                        "model_server_unavailable",
                        logging.WARNING,
                        held_seconds=round(now - held_since, 1),
                        retry_in=self._backoff,
                        images=len(batch.messages),
                        error=exc,
                    )
                # The batch before is done: ack it now, not after the outage.
                self._settle_and_commit()
                # Never given back for an outage: on Pub/Sub every nack counts towards the
                # subscription's dead-letter policy, and valid images would end there.
                self._channels.consumer.extend(batch.messages)
                stop.wait(self._backoff)

    def _settle(self) -> None:
        """Settle every batch in flight, oldest first."""
        while self._in_flight:
            self._settle_oldest()

    def _settle_published(self, backlog: bool) -> None:
        """Exactly-once: settle the batches whose recording is over, oldest first (the
        batch before waited for a little), and the oldest while too many are publishing
        (behind a backlog: all); then commit if the interval has passed."""
        assert self._transaction is not None
        most = 1 if backlog else _MAX_PUBLISHING
        # Only the batch before is waited for, and not behind one already slow.
        patience = _PUBLISH_PATIENCE_SECONDS if len(self._in_flight) == 1 else 0.0
        while self._in_flight and (
            len(self._in_flight) >= most or _recorded(self._in_flight[0], patience)
        ):
            self._settle_oldest()
        if self._transaction.due:
            self._settle_and_commit()

    def _settle_oldest(self) -> None:
        """Wait for the oldest batch in flight to be recorded, then acknowledge what is
        done, dead-letter what never can be, and give back the rest (it comes again; what
        was recorded meanwhile is not recorded twice)."""
        batch = self._in_flight.popleft()
        if self._void(batch):
            return
        outcome = batch.outcome
        if batch.recording is not None:
            try:
                outcome.merge(batch.recording.result())
            except Exception:  # noqa: BLE001 - unforeseen: give the batch back, keep running
                logger.exception("recording_failed positions=%s", _positions(batch.messages))
        ack = outcome.ack + self._dead_letter(outcome.dead + self._out_of_attempts(outcome))
        self._failures.forget(ack)
        self._pace_retries(bool(outcome.retry))
        acked = {id(m) for m in ack}
        undone = [m for m in batch.messages if id(m) not in acked]
        if self._transaction is not None:
            if undone:  # it aborts the transaction the later batches publish into
                self._finish_recordings()
            self._transaction.add(batch.messages, ack)
            return
        self._channels.consumer.ack(ack)
        self._channels.consumer.nack(undone)

    def _settle_and_commit(self) -> None:
        """Settle every batch in flight, then commit the open transaction (exactly-once)."""
        self._settle()
        if self._transaction is not None:
            self._transaction.commit()

    def _pace_retries(self, transient: bool) -> None:
        """Back off while batches are given back for transient causes (0.1 s doubling to
        max_backoff_seconds); a batch without any ends it."""
        if not transient:
            self._retry_pause = 0.0
            return
        pause = max(self._retry_pause * 2, 0.1)
        self._retry_pause = min(pause, self._settings.max_backoff_seconds)
        log_event(logger, "retrying_later", logging.WARNING, retry_in=self._retry_pause)

    def _out_of_attempts(self, outcome: Outcome) -> list[tuple[Message, str]]:
        """Count each failed item's attempt; those at the limit go to the dead letters,
        the others are given back (by `_settle`) for another attempt."""
        dead = []
        for item, reason in outcome.failed:
            attempts = self._failures.failed(item.message)
            log_event(
                logger,
                "message_failed",
                logging.WARNING,
                position=item.message.position,
                attempt=attempts,
                error=reason,
                trace_id=item.image.trace.trace_id,
            )
            if attempts >= self._settings.max_attempts:
                final = f"failed {attempts} times, last: {reason}"
                dead += [(m, final) for m in item.messages]
        return dead

    def _dead_letter(self, bad: list[tuple[Message, str]]) -> list[Message]:
        """Publish to the dead-letter topic with the reason; returns those confirmed."""
        if not bad:
            return []
        letters = [
            OutgoingMessage(
                key=m.key or m.position,
                payload=m.payload,
                attributes={
                    **m.attributes,
                    "dead_letter_reason": reason,
                    "original_position": m.position,
                    "delivery_attempt": str(m.delivery_attempt),
                },
            )
            for m, reason in bad
        ]
        try:
            results = self._channels.dead_letters.publish(letters)
        except Exception as exc:  # noqa: BLE001 - unconfirmed: given back, tried again later
            logger.exception(
                "dead_letters_not_published positions=%s", [m.position for m, _ in bad[:3]]
            )
            error = PublishError(describe(exc), cause=exc)
            results = [PublishResult(letter, error=error) for letter in letters]
        for (message, reason), result in zip(bad, results, strict=True):
            log_event(
                logger,
                "dead_lettered",
                logging.WARNING,
                position=message.position,
                reason=reason,
                confirmed=result.ok,
                trace_id=trace_id_in(message.attributes),
            )
        confirmed = [(m, why) for (m, why), r in zip(bad, results, strict=True) if r.ok]
        self._stats.add_dead_lettered([why for _, why in confirmed])
        return [m for m, _ in confirmed]


def _log_classified(group: list[Item], request_trace_id: str) -> None:
    """At DEBUG, a line per image: its trace and the trace of the request that carried it."""

    def fields(item: Item) -> dict[str, object]:
        image = item.image
        return {
            "image_id": image.image_id,
            "position": item.message.position,
            "trace_id": image.trace.trace_id,
            "request_trace_id": request_trace_id,
        }

    log_each_at_debug(logger, "image_classified", group, fields)


def _recorded(batch: _Batch, patience: float) -> bool:
    """Whether `batch` is recorded, waiting up to `patience` seconds for it."""
    return batch.recording is None or not wait([batch.recording], patience).not_done


def _positions(messages: Sequence[Message]) -> list[str]:
    return [m.position for m in messages[:3]]
