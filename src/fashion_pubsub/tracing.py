"""W3C Trace Context (`traceparent`) for following one image through the pipeline.

The publisher starts a trace per image and sends it as the message attribute
`traceparent`; the subscriber continues it (a new span id, the same trace id), sends it
to the model server as the `traceparent` request header, puts it on the prediction or
dead letter, and names the trace id in every log line about the image.

A `traceparent` that is not valid is ignored, as the W3C recommendation says a receiver
must do: the image itself is fine, so it is classified under a new trace, and a warning
names the bad value. Dead-lettering a good image for a bad tracing header would lose its
result for the sake of a diagnostic.

https://www.w3.org/TR/trace-context/#traceparent-header
"""

import random
import re
from collections.abc import Mapping
from typing import NamedTuple

from fashion_pubsub.errors import TraceparentError

TRACEPARENT = "traceparent"  # the message attribute, HTTP header and gRPC metadata key
_FORMAT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)
_SAMPLED = "01"
_ZERO_TRACE_ID, _ZERO_SPAN_ID = "0" * 32, "0" * 16


class TraceContext(NamedTuple):
    """One span of a trace: the trace id every hop shares, this hop's span id, the flags.
    A tuple, since the pipeline builds one to three per image."""

    trace_id: str
    span_id: str
    flags: str = _SAMPLED

    @classmethod
    def start(cls) -> "TraceContext":
        """A new trace (the publisher, for each image it reads)."""
        return cls(random_id(128), random_id(64))

    def child(self) -> "TraceContext":
        """The next hop: the same trace, a new span id."""
        return TraceContext(self.trace_id, random_id(64), self.flags)

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def random_id(bits: int) -> str:
    """A random, never all-zero id of `bits` bits in lower-case hex (W3C: all zeros is
    invalid).

    From `random`, as OpenTelemetry's id generator does, not `secrets`: an id needs to be
    unique, not unguessable, and `os.urandom` lets go of the GIL for its system call. In
    the subscriber's profile the main thread then waited for the writer thread to hand it
    back: 7.5 % of its samples sat in `secrets.token_hex`, one id per image.
    """
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


def parse_traceparent(value: str) -> TraceContext:
    """Parse a `traceparent` value.

    Version 00 must be exactly four fields; a later version may add fields after them
    (which are ignored, as the recommendation says); version ff is invalid.

    Raises:
        TraceparentError: with the reason the value is not valid.
    """
    match = _FORMAT.fullmatch(value)
    if match is None:
        raise TraceparentError(value, "not version-traceid-spanid-flags in lowercase hex")
    # One `groups()` call (~0.1 µs): the subscriber parses a value per image, and the
    # lookups by group name cost as much as the match itself (~0.28 µs).
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff":
        raise TraceparentError(value, "version ff is forbidden")
    if version == "00" and rest:
        raise TraceparentError(value, "version 00 has exactly four fields")
    if trace_id == _ZERO_TRACE_ID or span_id == _ZERO_SPAN_ID:
        raise TraceparentError(value, "an all-zero trace id or span id is invalid")
    return TraceContext(trace_id, span_id, flags)


def trace_id_in(attributes: Mapping[str, str]) -> str | None:
    """The trace id of a message's valid `traceparent` attribute, for its log lines."""
    value = attributes.get(TRACEPARENT)
    if not isinstance(value, str):
        return None
    try:
        return parse_traceparent(value).trace_id
    except TraceparentError:
        return None


def continue_trace(value: str | None) -> tuple[TraceContext, TraceparentError | None]:
    """The next hop of the trace in `value`; a new trace if there is none or it is not
    valid (then also the error, for the caller to log)."""
    if value is None:
        return TraceContext.start(), None
    try:
        return parse_traceparent(value).child(), None
    except TraceparentError as exc:
        return TraceContext.start(), exc
