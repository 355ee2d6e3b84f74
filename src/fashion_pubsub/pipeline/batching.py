"""When a batch may wait to fill: behind a backlog, and in the publisher a steady stream.

The publisher and the subscriber take what is waiting at once. Only when a backlog has
built up (at least an eighth of a batch waiting when they look) may a batch take
`max_wait_seconds` to fill, so that under load the per-batch costs (a produce and its
confirmation, a predict request, a Kafka transaction) are shared by more items.

The first version opened the window whenever anything at all was waiting. At 1,000
images/s that is every batch: the publisher and the subscriber each finish a batch in a
few milliseconds and find the next few items there, so each batch waited the whole 5 ms,
which lengthened every cycle and put ~5 ms into both the `pickup` and the `broker` stages
(docs/benchmarks.md, "Latency, stage by stage"). A steady stream's batches grow by
themselves when a cycle takes longer: what arrives meanwhile is waiting at the next look.
Not enough of them, though, for the publisher: see `StreamPace`.
"""

import math

_BACKLOG_SHARE = 8
"""A backlog is at least 1/_BACKLOG_SHARE of a batch (and at least two items)."""


def is_backlog(waiting: int, batch_size: int) -> bool:
    """Whether `waiting` items found at once make a backlog worth waiting to batch.

    Args:
        waiting: items already there when the batch was started (the first one included).
        batch_size: the most items a batch may hold.
    """
    return waiting >= max(2, batch_size // _BACKLOG_SHARE)


class StreamPace:
    """The fill window of a batch started without a backlog: `stream_wait` seconds while
    items come closer together than that, else none.

    Waiting for company only behind a backlog left a steady stream of moderate rate
    without it: at 1,000 files/s the publisher sent one or two files per batch, and each
    batch cost a produce request, its confirmation and a fetch on Kafka, whose broker then
    used ~40 % of a core (~400 µs per image, against ~47 in a burst). Waiting 1.5 ms while
    files come less than 1.5 ms apart cut the broker's CPU by a sixth to a third at
    1,000 and 2,000 files/s, and p99 was lower in 11 of 14 alternating pairs there; at 200
    files/s (5 ms apart) it never waits (docs/benchmarks.md, "A steady stream's batches").

    The rate is read from the batch before: its size over the time since it started,
    which is when the items in this one began to arrive. After a pause the gap is long,
    so the first item after it goes at once.

    Args:
        stream_wait: seconds a batch may wait for company in a steady stream; 0: never.
    """

    def __init__(self, stream_wait: float) -> None:
        self._stream_wait = stream_wait
        self._last_start = -math.inf
        self._last_size = 1

    def window(self, start: float) -> float:
        """Seconds the batch started at `start` (monotonic) may wait to fill."""
        gap = (start - self._last_start) / self._last_size
        return self._stream_wait if gap < self._stream_wait else 0.0

    def taken(self, start: float, size: int) -> None:
        """The batch started at `start` holds `size` items."""
        self._last_start, self._last_size = start, max(size, 1)
