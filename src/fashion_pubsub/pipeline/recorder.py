"""Recording classified images: `<stem>-<Class>.png`, a `predictions` message and a
results-log line per image, in that order, each image once.

Two phases in two threads of the subscriber. `write_all` writes the output files as soon
as a batch is classified: they need nothing from the broker. `publish_all` then publishes
the predictions and logs the records; in exactly-once mode it can only start once the
batch before has committed (one transaction at a time), and the predictions of the batch
before may still be waiting for their confirmation. Measured on Kafka at 1,000 images/s,
that wait (a transaction's produce, offsets and commit: 6-20 ms per batch) was most of the
`write` stage while the files waited behind it (docs/benchmarks.md). A failure is one
image's in `write_all`; in `publish_all` the group is split until the culprit is alone."""

import logging
import time
from typing import NamedTuple

import numpy as np
import orjson

from fashion_pubsub.brokers.base import OutgoingMessage, Publisher
from fashion_pubsub.classes import CLASS_NAMES
from fashion_pubsub.logs import log_each_at_debug, log_event
from fashion_pubsub.pipeline.latency import PredictTimes, Timestamps, breakdown
from fashion_pubsub.pipeline.outcome import Item, Outcome, describe, halves, is_transient
from fashion_pubsub.pipeline.outputs import write_output
from fashion_pubsub.pipeline.results import DoneIndex, ResultsLog
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.wire import ImageMessage
from fashion_pubsub.serving.client import Prediction
from fashion_pubsub.settings import SubscriberSettings
from fashion_pubsub.tracing import TRACEPARENT

logger = logging.getLogger(__name__)


class Classified(NamedTuple):
    """A group of images, the model's answer for it, and when it was received and
    classified (for the latency stages of its records)."""

    items: list[Item]
    prediction: Prediction
    times: PredictTimes


class Recorder:
    """Writes, publishes and logs the results of classified images.

    Args:
        predictions: publisher of the `predictions` topic.
        settings: output folder and results log.
        index: image ids already recorded (shared with the subscriber's main thread).
        stats: counters to update.
        deferred: keep the records (`take_uncommitted`) instead of logging them, for a
            caller that logs them (`append`) once their transaction has committed. An
            image with a kept record counts as recorded (`pending`): a transaction spans
            several batches, and a second copy in a later one must not be published again.
    """

    def __init__(
        self,
        predictions: Publisher,
        settings: SubscriberSettings,
        index: DoneIndex,
        stats: Stats,
        deferred: bool = False,
    ) -> None:
        self._predictions = predictions
        self._output_dir = settings.output_dir
        self._index = index
        self._stats = stats
        self._log = ResultsLog(settings.results_path())
        self._deferred = deferred
        self._uncommitted: list[dict[str, object]] = []
        self._pending: set[str] = set()  # image ids of `_uncommitted`

    def close(self) -> None:
        self._log.close()

    def append(self, records: list[dict[str, object]]) -> None:
        """Log records, and count their images as done."""
        self._log.append(records)
        self._index.done.update(str(r["image_id"]) for r in records)
        self._stats.add_predicted(records)
        _log_recorded(records)

    def take_uncommitted(self) -> list[dict[str, object]]:
        """Deferred mode: the records published since the last call, not logged yet (to
        log them once committed, or to drop them when their transaction aborted)."""
        records, self._uncommitted = self._uncommitted, []
        self._pending = set()
        return records

    def recorded(self, image_id: str) -> bool:
        """Whether `image_id` has a result: in the results log as last read, or (deferred
        mode) a record kept for the open transaction since `take_uncommitted`."""
        return image_id in self._index.done or image_id in self._pending

    def write_all(self, classified: list[Classified]) -> tuple[list["Written"], Outcome]:
        """Write the output file of each classified image not yet recorded (in the
        subscriber's file thread). One image's failure is its own: transient (disk
        full), it is given back; else it fails and counts an attempt.

        Args:
            classified: groups of images, the model's answer and the times of each group.
        """
        outcome = Outcome()
        written: list[Written] = []
        for group, prediction, times in classified:
            # Python numbers for the whole group at once: numpy scalars one by one cost
            # ~1 µs per image.
            probabilities = prediction.probabilities
            labels = probabilities.argmax(axis=1)
            confidences = probabilities[np.arange(len(labels)), labels].tolist()
            fresh = Written([], [])
            for item, label, confidence in zip(group, labels.tolist(), confidences, strict=True):
                # checked per image: the batch before may have recorded some meanwhile
                if self.recorded(item.image.image_id):
                    outcome.ack += item.messages
                    self._stats.add(duplicates=len(item.messages))
                    continue
                try:
                    answer = (label, confidence, prediction.model_version)
                    record = self._write(item, answer, times)
                except Exception as exc:  # noqa: BLE001 - this image's failure, or retry later
                    log_event(logger, "record_failed", logging.WARNING, images=1, error=exc)
                    if is_transient(exc):
                        outcome.retry += item.messages
                    else:
                        outcome.failed.append((item, describe(exc)))
                    continue
                fresh.items.append(item)
                fresh.records.append(record)
            if fresh.items:
                written.append(fresh)
        return written, outcome

    def _write(
        self, item: Item, answer: tuple[int, float, str], times: PredictTimes
    ) -> dict[str, object]:
        """One image's output file; returns its record, whose latency ends now.

        Args:
            item: the image.
            answer: its label, the confidence and the model version.
            times: when its group was received and classified.
        """
        image, (label, confidence, version) = item.image, answer
        path = write_output(
            self._output_dir, image.source_file, image.image_id, CLASS_NAMES[label], image.pixels
        )
        return _record(image, label, confidence, version, path.name, times)

    def publish_all(self, written: list["Written"]) -> Outcome:
        """Publish the predictions of written images and log their records (in the
        subscriber's writer thread); a group that fails for a reason that is not transient
        is split until the failing image is alone, and only it fails.

        Args:
            written: what `write_all` wrote.
        """
        outcome = Outcome()
        for group in written:
            pending = [group]
            while pending:
                part = pending.pop()
                try:
                    outcome.merge(self._publish(part))
                except Exception as exc:  # noqa: BLE001 - isolate the culprit, or retry later
                    log_event(
                        logger, "record_failed", logging.WARNING, images=len(part.items), error=exc
                    )
                    if is_transient(exc):
                        outcome.retry += [m for item in part.items for m in item.messages]
                    elif len(part.items) > 1:
                        pending += part.halves()
                    else:
                        outcome.failed.append((part.items[0], describe(exc)))
        return outcome

    def _publish(self, group: "Written") -> Outcome:
        """Publish predictions, append records. Everything to ack, or to retry if the
        broker refused the predictions (then nothing is recorded)."""
        outcome = Outcome()
        # The batch before this one may have recorded some of these images meanwhile.
        items = group.items
        seen = [self.recorded(item.image.image_id) for item in items]
        rows = [row for row, item in enumerate(items) if not seen[row]]
        for item, known in zip(items, seen, strict=True):
            if known:
                outcome.ack += item.messages
        fresh = [items[row] for row in rows]
        records = [group.records[row] for row in rows]
        self._stats.add(duplicates=len(outcome.ack) + sum(len(i.copies) for i in fresh))
        if not fresh:
            return outcome
        published = self._predictions.publish(
            [
                OutgoingMessage(
                    key=str(r["image_id"]),
                    payload=orjson.dumps(r),
                    attributes={
                        "image_id": str(r["image_id"]),
                        "schema": "1",
                        TRACEPARENT: item.image.trace.header,
                    },
                )
                for r, item in zip(records, fresh, strict=True)
            ]
        )
        failed = [r.error for r in published if not r.ok]
        if failed:
            log_event(logger, "predictions_not_published", logging.WARNING, error=failed[0])
        if len(published) > 1 and len(failed) == len(published):
            # The broker is taking nothing: its failure, not the images'. Retry uncounted.
            # (A lone image refused cannot tell; it is counted like any failure.)
            outcome.retry += [m for item in fresh for m in item.messages]
            return outcome
        confirmed = [r.ok for r in published]
        records = [r for r, ok in zip(records, confirmed, strict=True) if ok]
        if self._deferred:
            self._uncommitted += records  # logged once their transaction commits
            self._pending.update(str(r["image_id"]) for r in records)
        else:
            self.append(records)
        for item, result in zip(fresh, published, strict=True):
            if result.ok:
                outcome.ack += item.messages
            else:  # the broker took the others: this one's failure, counted
                outcome.failed.append((item, f"prediction not published: {result.error}"))
        return outcome


class Written(NamedTuple):
    """Images whose output files are written, and their records (same order)."""

    items: list[Item]
    records: list[dict[str, object]]

    def halves(self) -> list["Written"]:
        first, second = halves(self.items)
        return [
            Written(first, self.records[: len(first)]),
            Written(second, self.records[len(first) :]),
        ]


def _record(
    image: ImageMessage,
    label: int,
    confidence: float,
    version: str,
    output: str,
    times: PredictTimes,
) -> dict[str, object]:
    written = time.time()
    stamps = Timestamps(
        arrived=image.arrived_at,
        seen=image.seen_at,
        published=image.published_at,
        received=times.received,
        predict_started=times.started,
        predicted=times.finished,
        written=written,
    )
    return {
        "image_id": image.image_id,
        "source_file": image.source_file,
        "output_file": output,
        "predicted_label": label,
        "predicted_class": CLASS_NAMES[label],
        "confidence": round(confidence, 6),
        "true_label": image.true_label,
        "model_version": version,
        "trace_id": image.trace.trace_id,
        "arrived_at": image.arrived_at,
        "seen_at": image.seen_at,
        "published_at": image.published_at,
        "written_at": written,
        "latency_ms": breakdown(stamps),
    }


def _log_recorded(records: list[dict[str, object]]) -> None:
    """At DEBUG, a line per recorded image, with its trace id."""
    names = ("image_id", "output_file", "predicted_class", "trace_id")
    log_each_at_debug(logger, "image_recorded", records, lambda r: {n: r[n] for n in names})
