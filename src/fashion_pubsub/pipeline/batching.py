"""When a batch may wait to fill: only behind a backlog.

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
"""

_BACKLOG_SHARE = 8
"""A backlog is at least 1/_BACKLOG_SHARE of a batch (and at least two items)."""


def is_backlog(waiting: int, batch_size: int) -> bool:
    """Whether `waiting` items found at once make a backlog worth waiting to batch.

    Args:
        waiting: items already there when the batch was started (the first one included).
        batch_size: the most items a batch may hold.
    """
    return waiting >= max(2, batch_size // _BACKLOG_SHARE)
