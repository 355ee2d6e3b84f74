"""Acknowledging on a Pub/Sub subscription with exactly-once delivery, and reading its
ack results.

With `enable_exactly_once_delivery`, Pub/Sub does not redeliver a message whose ack
succeeded, and says which acks did not: the Acknowledge call fails with reason
EXACTLY_ONCE_ACKID_FAILURE and maps each failed ack id to TRANSIENT_FAILURE_* (try
again) or PERMANENT_FAILURE_* (an expired lease, say: the message comes again, and
the subscriber recognises its result by image id). The emulator behaves the same.
"""

import logging
import time
from collections.abc import Callable, Sequence

from google.api_core import exceptions as gexc

from fashion_pubsub.logs import log_event

logger = logging.getLogger(__name__)

ACK_FAILURE = "EXACTLY_ONCE_ACKID_FAILURE"
_TRANSIENT_PREFIX = "TRANSIENT_"
_ATTEMPTS = 3


def acknowledge(acknowledge_call: Callable[[list[str]], None], ack_ids: Sequence[str]) -> list[str]:
    """Ack `ack_ids`, retrying those Pub/Sub reports as transiently failed; returns the
    ids whose ack failed for good (their messages will be delivered again).

    Args:
        acknowledge_call: sends one Acknowledge request for the given ack ids.
        ack_ids: the ids to acknowledge.
    """
    pending, refused = list(ack_ids), list[str]()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            acknowledge_call(pending)
            return refused
        except gexc.GoogleAPIError as exc:
            failures = ack_failures(exc)
            if failures is None:
                raise  # not an ack result: the caller's usual handling applies
        transient = [i for i in pending if failures.get(i, "").startswith(_TRANSIENT_PREFIX)]
        permanent = [i for i in pending if i in failures and i not in transient]
        if permanent:
            reason = failures[permanent[0]]
            log_event(logger, "ack_refused", logging.WARNING, count=len(permanent), reason=reason)
        refused += permanent
        if not transient:
            return refused
        pending = transient
        if attempt < _ATTEMPTS:
            time.sleep(0.1 * attempt)
    return refused + pending


def ack_failures(exc: gexc.GoogleAPIError) -> dict[str, str] | None:
    """ack id -> failure reason from an exactly-once ack error; None for other errors."""
    if getattr(exc, "reason", None) != ACK_FAILURE:
        return None
    return {str(k): str(v) for k, v in (getattr(exc, "metadata", None) or {}).items()}
