"""`fashion-pubsub subscribe`: batches from the input topic -> one predict request per
batch -> `<stem>-<Class>.png`, a result record, a `predictions` message -> then ack.

Two batches are in flight: while a writer thread records one (files, predictions,
log), the main thread receives and classifies the next, so the model server and the
file system work at the same time. Acks and nacks stay on the main thread.

Nothing is acknowledged before its result is written. A model server that is down
is retried with exponential backoff while the batch is held (its ack deadline
extended); a message that can never be processed goes to the dead-letter topic
with the reason. A redelivered image gets no second record.

Exactly-once (Kafka, `channels.transactions` set): one batch at a time, each in one
transaction. Its dead letters and predictions are published inside it, and the ack
commits them together with the batch's offsets; a batch not wholly done is nacked,
which aborts, so read_committed readers never see a half-done batch. Its records go
to the results log only after the commit (through the commit journal).
"""

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import orjson

from fashion_pubsub.brokers.base import Consumer, Message, OutgoingMessage, Publisher
from fashion_pubsub.brokers.errors import TransactionAbortedError, TransactionFencedError
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.errors import WireFormatError
from fashion_pubsub.pipeline.journal import CommitJournal
from fashion_pubsub.pipeline.outputs import write_output
from fashion_pubsub.pipeline.results import DoneIndex, ResultsLog
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.wire import ImageMessage, decode
from fashion_pubsub.serving.client import Prediction, ServingClient
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError
from fashion_pubsub.settings import SubscriberSettings

logger = logging.getLogger(__name__)


class HoldExpiredError(Exception):
    """The model server stayed unavailable for the whole hold time."""


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
    """A batch whose outcome is still being decided: what to ack so far, and the
    recording job (in the writer thread) that decides the rest."""

    messages: Sequence[Message]
    ack: list[Message] = field(default_factory=list)
    recording: "Future[list[Message]] | None" = None


class ImageSubscriber:
    """Classifies images from the input topic.

    Args:
        channels: input consumer, predictions and dead-letter publishers.
        client: the model server client.
        settings: output folder, results log, batching, patience.
        stats: counters to update.
    """

    def __init__(
        self, channels: Channels, client: ServingClient, settings: SubscriberSettings, stats: Stats
    ) -> None:
        self._channels = channels
        self._client = client
        self._settings = settings
        self._stats = stats
        self._log = ResultsLog(settings.results_path())
        self._index = DoneIndex(settings.results_path().parent)
        self._backoff = 0.0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._in_flight: _Batch | None = None
        self._exactly_once = channels.transactions is not None
        self._journal = CommitJournal(settings.results_path().with_suffix(".commit.json"))
        self._uncommitted: list[dict[str, object]] = []
        settings.output_dir.mkdir(parents=True, exist_ok=True)

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set."""
        self._index.refresh(rescan=True)
        self._recover_journal()
        log_event(
            logger,
            "subscribed",
            output=self._settings.output_dir,
            known_results=len(self._index.done),
            exactly_once=self._exactly_once,
        )
        self._connect_model_server()
        try:
            while not stop.is_set():
                messages = self._channels.consumer.receive(
                    self._settings.batch_size, self._settings.max_wait_seconds
                )
                if messages:
                    self._process_guarded(messages, stop)
                else:
                    self._settle()
                self._stats.log_every(logger)
        finally:
            self._settle()
            self._writer.shutdown()
            self._log.close()

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
        """One batch; a failure nobody foresaw gives the batch back instead of ending the
        process (the messages come again, and their results are not duplicated)."""
        try:
            self.process(messages, stop)
        except TransactionFencedError:
            raise  # another instance took over: this one must stop, not retry
        except Exception:  # noqa: BLE001 - last line of defence, logged with its traceback
            logger.exception("batch_failed positions=%s", _positions(messages))
            self._channels.consumer.nack(messages)
            stop.wait(1.0)

    def process(self, messages: Sequence[Message], stop: threading.Event) -> None:
        """Classify one batch and hand it to the writer thread; settle the batch before it.
        Every message ends acked, dead-lettered or nacked."""
        received = time.time()
        batch = _Batch(messages)
        images, bad = self._decode_all(messages)
        batch.ack += self._dead_letter(bad)
        done = self._index.refresh(rescan=any(m.delivery_attempt > 1 for m in messages))
        fresh = [(m, i) for m, i in images if i.image_id not in done]
        repeats = [m for m, i in images if i.image_id in done]
        self._stats.add(duplicates=len(repeats))
        batch.ack += repeats
        if fresh:
            try:
                prediction = self._classify([i for _, i in fresh], [m for m, _ in fresh], stop)
            except HoldExpiredError:
                pass  # everything fresh is nacked and comes back later
            except ServingRequestError as exc:
                reason = f"model server refused the batch: {exc}"
                batch.ack += self._dead_letter([(m, reason) for m, _ in fresh])
            else:
                batch.recording = self._writer.submit(self._record, fresh, prediction, received)
        self._settle()
        self._in_flight = batch
        if self._exactly_once:
            self._settle()  # one transaction holds one batch: no overlap

    def _settle(self) -> None:
        """Wait for the batch in flight to be recorded, then ack what is done and nack the
        rest (it comes again; what was recorded meanwhile is not recorded twice)."""
        batch, self._in_flight = self._in_flight, None
        if batch is None:
            return
        ack = list(batch.ack)
        if batch.recording is not None:
            try:
                ack += batch.recording.result()
            except Exception:  # noqa: BLE001 - unforeseen: give the batch back, keep running
                logger.exception("recording_failed positions=%s", _positions(batch.messages))
        acked = {id(m) for m in ack}
        if self._exactly_once:
            self._commit(batch.messages, ack, all(id(m) in acked for m in batch.messages))
            return
        self._channels.consumer.ack(ack)
        self._channels.consumer.nack([m for m in batch.messages if id(m) not in acked])

    def _commit(self, messages: Sequence[Message], ack: list[Message], whole: bool) -> None:
        """Exactly-once: commit the batch's transaction if every message is done, then log
        its records; else abort it (everything comes again, nothing was seen)."""
        records, self._uncommitted = self._uncommitted, []
        if not whole:
            self._channels.consumer.nack(messages)
            return
        if records:
            self._journal.write(records, [m.position for m in ack])
        try:
            self._channels.consumer.ack(ack)
        except TransactionAbortedError as exc:
            log_event(logger, "batch_aborted", logging.WARNING, images=len(records), error=exc)
            self._journal.clear()
            return
        self._append(records)
        self._journal.clear()

    def _append(self, records: list[dict[str, object]]) -> None:
        self._log.append(records)
        self._index.done.update(str(r["image_id"]) for r in records)
        self._stats.add(predicted=len(records))

    def _recover_journal(self) -> None:
        """Finish a commit the last run was killed in: log its records if the transaction
        committed (its offsets are past the batch), drop them if it aborted."""
        entry = self._journal.read()
        if entry is None or self._channels.transactions is None:
            return
        records, positions = entry
        if self._channels.transactions.committed(positions):
            done = self._index.refresh(rescan=True)
            missing = [r for r in records if str(r.get("image_id")) not in done]
            self._append(missing)
            log_event(logger, "commit_recovered", records=len(missing))
        self._journal.clear()

    def _decode_all(
        self, messages: Sequence[Message]
    ) -> tuple[list[tuple[Message, ImageMessage]], list[tuple[Message, str]]]:
        images, bad = [], []
        for message in messages:
            try:
                images.append((message, decode(message)))
            except WireFormatError as exc:
                bad.append((message, exc.reason))
        return images, bad

    def _classify(
        self, images: list[ImageMessage], messages: list[Message], stop: threading.Event
    ) -> Prediction:
        batch = np.stack([i.pixels for i in images])
        held_since = time.monotonic()
        while True:
            try:
                prediction = self._client.classify(batch)
                self._backoff = 0.0
                return prediction
            except ServingUnavailableError as exc:
                self._stats.add(retries=1)
                self._backoff = min(max(self._backoff * 2, 0.1), self._settings.max_backoff_seconds)
                log_event(
                    logger,
                    "model_server_unavailable",
                    logging.WARNING,
                    retry_in=self._backoff,
                    images=len(images),
                    error=exc,
                )
                if stop.is_set() or time.monotonic() - held_since > self._settings.hold_seconds:
                    raise HoldExpiredError from exc
                self._settle()  # the batch before is done: ack it now, not after the outage
                self._channels.consumer.extend(messages)
                stop.wait(self._backoff)

    def _record(
        self, fresh: list[tuple[Message, ImageMessage]], prediction: Prediction, received: float
    ) -> list[Message]:
        """In the writer thread: write outputs, publish predictions, append records.
        Returns the messages to ack: none if the broker refused the predictions (then
        nothing is recorded and the batch comes back)."""
        # The batch before this one may have recorded some of these images meanwhile.
        done = self._index.done
        rows, repeats, seen = [], [], set(done)
        for row, (message, image) in enumerate(fresh):
            if image.image_id in seen:  # done before, or a second copy in this batch
                repeats.append(message)
            else:
                seen.add(image.image_id)
                rows.append(row)
        self._stats.add(duplicates=len(repeats))
        if not rows:
            return repeats
        probabilities = prediction.probabilities[rows]
        labels = probabilities.argmax(axis=1)
        images = [fresh[row][1] for row in rows]
        # One thread: creating a small file is CPU work in the kernel, and measured here,
        # four writer threads cost 2.4x the CPU of one (GIL and directory-lock contention).
        paths = [
            write_output(
                self._settings.output_dir,
                image.source_file,
                image.image_id,
                CLASS_NAMES[int(label)],
                image.pixels,
            )
            for image, label in zip(images, labels, strict=True)
        ]
        records = [
            _record(
                image,
                int(label),
                float(row_probabilities[label]),
                prediction.model_version,
                path.name,
                received,
            )
            for image, label, row_probabilities, path in zip(
                images, labels, probabilities, paths, strict=True
            )
        ]
        published = self._channels.predictions.publish(
            [
                OutgoingMessage(
                    key=str(r["image_id"]),
                    payload=orjson.dumps(r),
                    attributes={"image_id": str(r["image_id"]), "schema": "1"},
                )
                for r in records
            ]
        )
        failed = [r.error for r in published if not r.ok]
        if failed:
            log_event(logger, "predictions_not_published", logging.WARNING, error=failed[0])
            return []
        if self._exactly_once:
            self._uncommitted = records  # logged once the transaction commits
        else:
            self._append(records)
        return repeats + [fresh[row][0] for row in rows]

    def _dead_letter(self, bad: list[tuple[Message, str]]) -> list[Message]:
        """Publish to the dead-letter topic with the reason; returns those confirmed."""
        if not bad:
            return []
        results = self._channels.dead_letters.publish(
            [
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
        )
        for (message, reason), result in zip(bad, results, strict=True):
            log_event(
                logger,
                "dead_lettered",
                logging.WARNING,
                position=message.position,
                reason=reason,
                confirmed=result.ok,
            )
        confirmed = [m for (m, _), r in zip(bad, results, strict=True) if r.ok]
        self._stats.add(dead_lettered=len(confirmed))
        return confirmed


def _record(
    image: ImageMessage, label: int, confidence: float, version: str, output: str, received: float
) -> dict[str, object]:
    written = time.time()
    return {
        "image_id": image.image_id,
        "source_file": image.source_file,
        "output_file": output,
        "predicted_label": label,
        "predicted_class": CLASS_NAMES[label],
        "confidence": round(confidence, 6),
        "true_label": image.true_label,
        "model_version": version,
        "seen_at": image.seen_at,
        "published_at": image.published_at,
        "written_at": written,
        "latency_ms": {
            "end_to_end": round((written - image.seen_at) * 1000, 3),
            "queue": round((received - image.published_at) * 1000, 3),
            "processing": round((written - received) * 1000, 3),
        },
    }


def _positions(messages: Sequence[Message]) -> list[str]:
    return [m.position for m in messages[:3]]
