"""Exactly-once: the batches of the subscriber's open transaction, committed together.

A commit is a broker round trip (send_offsets_to_transaction, then commit_transaction:
tens of ms on a 3-node cluster); one per batch cost 55 % of the throughput. So settled
batches join one open transaction, which commits when `interval` has passed since its
first batch began publishing into it (`due`), and also when the input is idle, before a
rebalance hands partitions away, while the model server is down, and at close. The
subscriber calls `commit` or `start_commit` then, once every batch publishing into the
transaction has settled.

`start_commit` runs the round trip in the committer thread, the one that publishes into
the transaction, so the subscriber's main thread goes on receiving and classifying; the
batches after it publish into the next transaction, once the commit is over. Awaited on
the main thread, the commit held it (and the images arriving meanwhile) 3-30 ms, some
ten times a second at 1,000 images/s on Kafka (docs/benchmarks.md). The commit under
way is settled when the next one begins, or an abort: if it aborted, the open
transaction aborts too, and every batch since the last commit comes again.

What each batch guaranteed alone still holds for all of them together:

- The commit acks every message of every batch: their offsets go into the transaction
  with the predictions and dead letters published since the last commit.
- A batch not wholly done, or a commit that fails, aborts the whole transaction: the
  consumer goes back to the committed offsets, so every batch of it comes again. Their
  records are dropped, never logged; their output files stay, and the same image claims
  the same file again (outputs.py), so a retry adds none.
- Records reach the results log only after the commit, through the commit journal
  (journal.py), which covers every batch of the transaction.
- A copy of an image whose transaction is committing is not known as recorded yet on
  the main thread, so it is classified and written again (same file); its publish comes
  after the commit in the committer thread, and finds it recorded then (or, if the
  commit aborted, goes into a transaction that aborts too).

The price: an abort or a crash redoes up to one interval of work (two, when a commit
aborts behind batches that went on), and read_committed readers see a result up to one
interval later.
"""

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from fashion_pubsub.brokers.base import Consumer, Message
from fashion_pubsub.brokers.errors import TransactionAbortedError, TransactionFencedError
from fashion_pubsub.brokers.transactions import PendingCommit, TransactionalSession
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.journal import CommitJournal
from fashion_pubsub.pipeline.recorder import Recorder
from fashion_pubsub.pipeline.results import DoneIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Committing:
    """A commit under way in the committer thread."""

    commit: PendingCommit
    job: "Future[None]"
    messages: int
    images: int


class OpenTransaction:
    """The batches settled since the last commit; commits or aborts them as one.

    Call `commit`, `start_commit` and `abort` only while no batch is being recorded: the
    recorder's kept records must be exactly those of the batches added, and a batch still
    publishing would put predictions into a commit whose offsets do not cover them.

    Args:
        session: the transactional session of `consumer` and the publishers.
        recorder: keeps the records of the open transaction (deferred mode).
        journal: holds the records while their commit is under way.
        interval: seconds from the first batch to the commit (`due`); 0: every batch.
        committer: runs the commits: the single thread that publishes into the session.
        clock: seconds, for the interval.
    """

    def __init__(
        self,
        session: TransactionalSession,
        recorder: Recorder,
        journal: CommitJournal,
        interval: float,
        committer: Executor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._consumer: Consumer = session.consumer
        self._recorder = recorder
        self._journal = journal
        self._interval = interval
        self._committer = committer
        self._clock = clock
        self._committing: _Committing | None = None
        self._messages: list[Message] = []  # every message handed out in it
        self._ack: list[Message] = []
        self._since: float | None = None  # its first batch began publishing; None: empty
        self.rewinds = 0  # times the input went back to the committed offsets

    def publishing(self) -> None:
        """A batch begins publishing into the transaction: the interval runs from the
        first one."""
        if self._since is None:
            self._since = self._clock()

    @property
    def due(self) -> bool:
        """Whether the interval has passed since the first batch began publishing (or
        joined) into the open transaction: time to commit."""
        return self._since is not None and self._clock() - self._since >= self._interval

    def add(self, messages: Sequence[Message], ack: Sequence[Message]) -> None:
        """A settled batch joins. A batch not wholly done (a message in `messages` but
        not in `ack`) aborts the whole transaction instead. The caller commits when `due`,
        once no batch is publishing into the transaction any more.

        Args:
            messages: the batch.
            ack: those of its messages that are done (recorded or dead-lettered).
        """
        acked = {id(m) for m in ack}
        if not all(id(m) in acked for m in messages):
            self.abort(messages)
            return
        if self._since is None:
            self._since = self._clock()
        self._messages += messages
        self._ack += ack

    def commit(self) -> None:
        """Commit the open transaction, if any, and wait for it (and for one under way);
        if it aborts, every batch of it comes again."""
        self.start_commit()
        self._finish(wait=True)

    def start_commit(self) -> None:
        """Begin committing the open transaction, if any, in the committer thread, and
        return at once. A commit under way is settled first (waited for if it is still
        running); if it aborted, the open transaction aborts too (nothing is committed)."""
        if not self._finish(wait=self._since is not None):
            return
        if self._since is None:
            return
        ack, messages = self._ack, len(self._messages)
        commit = self._session.prepare_commit(ack)
        self._reset()
        records = self._recorder.take_uncommitted()
        positions = [m.position for m in ack]
        job = self._committer.submit(self._run, commit, records, positions)
        self._committing = _Committing(commit, job, messages, len(records))

    def _run(
        self, commit: PendingCommit, records: list[dict[str, object]], positions: list[str]
    ) -> None:
        """In the committer thread: journal the records, commit, then log them."""
        if records:
            self._journal.write(records, positions)
        try:
            commit.run()
        except TransactionAbortedError:
            self._journal.clear()
            raise
        self._recorder.append(records)
        self._journal.clear()

    def _finish(self, wait: bool) -> bool:
        """Settle the commit under way once it is over (waiting for it if `wait`).
        Returns False if it aborted: then so did the open transaction."""
        if self._committing is None or not (wait or self._committing.job.done()):
            return True
        if self._settle_commit():
            return True
        self.abort()
        return False

    def _settle_commit(self) -> bool:
        """Wait for the commit under way and settle it; False if it failed (then it is
        aborted, or will be with the open transaction: a fenced producer raises)."""
        assert self._committing is not None
        committing, self._committing = self._committing, None
        try:
            committing.job.result()
        except TransactionFencedError:
            raise  # another instance took over: nothing more can be committed or aborted
        except Exception as exc:  # noqa: BLE001 - any failure: everything comes again
            log_event(
                logger,
                "transaction_aborted_at_commit",
                logging.WARNING,
                messages=committing.messages,
                images=committing.images,
                error=exc,
            )
            return False
        committing.commit.settle()
        return True

    def abort(self, messages: Sequence[Message] = ()) -> None:
        """Abort the open transaction (once a commit under way is over): nothing of it is
        ever seen, its records are dropped, and every message handed out since the last
        commit comes again.

        Args:
            messages: given back with it (a batch that did not join).
        """
        if self._committing is not None:
            self._settle_commit()  # committed: so be it; if not, it comes again too
        given_back = self._messages + list(messages)
        self._reset()
        self._recorder.take_uncommitted()
        self.rewinds += 1
        self._consumer.nack(given_back)

    def recover(self, index: DoneIndex) -> None:
        """Finish a commit the last run was killed in: log its records if the transaction
        committed (the group's offsets are past its messages), drop them if it aborted.

        Args:
            index: the results so far, so no record is logged twice.
        """
        entry = self._journal.read()
        if entry is None:
            return
        records, positions = entry
        if self._session.committed(positions):
            done = index.refresh(rescan=True)
            missing = [r for r in records if str(r.get("image_id")) not in done]
            self._recorder.append(missing)
            log_event(logger, "commit_recovered", records=len(missing))
        self._journal.clear()

    def _reset(self) -> None:
        self._messages, self._ack, self._since = [], [], None
