"""Exactly-once: the batches of the subscriber's open transaction, committed together.

A commit is a broker round trip (send_offsets_to_transaction, then commit_transaction:
tens of ms on a 3-node cluster) awaited on the subscriber's main thread; one per batch
cost 55 % of the throughput there. So settled batches join one open transaction, which
commits when `interval` has passed since its first batch began publishing into it
(`due`), and also when the input is idle, before a rebalance hands partitions away,
while the model server is down, and at close. The subscriber calls `commit` then, once
every batch publishing into the transaction has settled.

What each batch guaranteed alone still holds for all of them together:

- The commit acks every message of every batch: their offsets go into the transaction
  with the predictions and dead letters published since the last commit.
- A batch not wholly done, or a commit that fails, aborts the whole transaction: the
  consumer goes back to the committed offsets, so every batch of it comes again. Their
  records are dropped, never logged; their output files stay, and the same image claims
  the same file again (outputs.py), so a retry adds none.
- Records reach the results log only after the commit, through the commit journal
  (journal.py), which covers every batch of the transaction.

The price: an abort or a crash redoes up to one interval of work, and read_committed
readers see a result up to one interval later.
"""

import logging
import time
from collections.abc import Callable, Sequence

from fashion_pubsub.brokers.base import Consumer, Message
from fashion_pubsub.brokers.errors import TransactionAbortedError
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.logs import log_event
from fashion_pubsub.pipeline.journal import CommitJournal
from fashion_pubsub.pipeline.recorder import Recorder
from fashion_pubsub.pipeline.results import DoneIndex

logger = logging.getLogger(__name__)


class OpenTransaction:
    """The batches settled since the last commit; commits or aborts them as one.

    Call `commit` and `abort` only while no batch is being recorded: the recorder's kept
    records must be exactly those of the batches added, and a batch still publishing
    would put predictions into a commit whose offsets do not cover them.

    Args:
        session: the transactional session of `consumer` and the publishers.
        recorder: keeps the records of the open transaction (deferred mode).
        journal: holds the records while their commit is under way.
        interval: seconds from the first batch to the commit (`due`); 0: every batch.
        clock: seconds, for the interval.
    """

    def __init__(
        self,
        session: TransactionalSession,
        recorder: Recorder,
        journal: CommitJournal,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._consumer: Consumer = session.consumer
        self._recorder = recorder
        self._journal = journal
        self._interval = interval
        self._clock = clock
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
        """Commit the open transaction, if any, then log its records; if it aborts, every
        batch of it comes again (the consumer has gone back to the committed offsets)."""
        if self._since is None:
            return
        ack, batches = self._ack, len(self._messages)
        self._reset()
        records = self._recorder.take_uncommitted()
        if records:
            self._journal.write(records, [m.position for m in ack])
        try:
            self._consumer.ack(ack)
        except TransactionAbortedError as exc:
            self.rewinds += 1
            log_event(
                logger,
                "transaction_aborted_at_commit",
                logging.WARNING,
                messages=batches,
                images=len(records),
                error=exc,
            )
            self._journal.clear()
            return
        self._recorder.append(records)
        self._journal.clear()

    def abort(self, messages: Sequence[Message] = ()) -> None:
        """Abort the open transaction: nothing of it is ever seen, its records are dropped,
        and every message handed out since the last commit comes again.

        Args:
            messages: given back with it (a batch that did not join).
        """
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
