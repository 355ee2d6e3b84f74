"""What a broker accepts in one message, and shrinking a message until it fits.

A message over the limits fails alone, before it is sent (`check`), instead of taking
its whole request down with it (Pub/Sub refuses a whole Publish call for one bad
message). Dead letters must never fail for their size: `FittingPublisher` publishes
what the broker refuses as too large again, shrunk (`shrink_to_fit`): attribute values
truncated, then the body dropped, and an attribute `truncated` saying what was cut. The
reason a message is dead-lettered is short and always kept.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fashion_pubsub.brokers.base import OutgoingMessage, Publisher, PublishResult
from fashion_pubsub.brokers.errors import MessageTooLargeError
from fashion_pubsub.logs import log_event

logger = logging.getLogger(__name__)

TRUNCATED = "truncated"
_ELLIPSIS = "…"
# Values kept when every attribute value must shrink further than the broker's own limit.
_LAST_RESORT_VALUE_BYTES = 1024


@dataclass(frozen=True)
class MessageLimits:
    """What one message may hold.

    Args:
        max_message_bytes: body, key and attributes together, with `attribute_overhead`
            bytes counted per attribute.
        max_attributes: how many attributes (None: no limit).
        max_attribute_key_bytes: length of an attribute's name (None: no limit).
        max_attribute_value_bytes: length of an attribute's value (None: no limit).
        key_is_attribute: the key travels as the attribute `key` (Pub/Sub).
        attribute_overhead: framing bytes per attribute (Kafka record headers).
    """

    max_message_bytes: int
    max_attributes: int | None = None
    max_attribute_key_bytes: int | None = None
    max_attribute_value_bytes: int | None = None
    key_is_attribute: bool = False
    attribute_overhead: int = 0

    @property
    def total_only(self) -> bool:
        """Only the message's total size is limited (Kafka)."""
        return (
            self.max_attributes is None
            and self.max_attribute_key_bytes is None
            and self.max_attribute_value_bytes is None
        )


# Pub/Sub's documented quotas: 10 MB per message (and per Publish request), 100
# attributes, 256-byte attribute names, 1024-byte attribute values.
PUBSUB_LIMITS = MessageLimits(
    max_message_bytes=10_000_000,
    max_attributes=100,
    max_attribute_key_bytes=256,
    max_attribute_value_bytes=1024,
    key_is_attribute=True,
)


def kafka_limits(message_max_bytes: int) -> MessageLimits:
    """librdkafka refuses a message whose key, value and headers exceed `message.max.bytes`
    (1,000,000 by default); a record's header costs its name, value and two varints."""
    return MessageLimits(max_message_bytes=message_max_bytes - 512, attribute_overhead=10)


def _length(text: str) -> int:
    """UTF-8 bytes of `text`; `isascii` is a flag lookup, so the usual case costs nothing."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _bound(message: OutgoingMessage, limits: MessageLimits) -> int:
    """At least `size_of`, counted in C: UTF-8 takes at most 4 bytes per character."""
    attributes = message.attributes
    characters = len(message.key) + sum(map(len, attributes)) + sum(map(len, attributes.values()))
    count = len(attributes)
    if limits.key_is_attribute:
        characters += len("key")
        count += 1
    return len(message.payload) + 4 * characters + limits.attribute_overhead * count


def size_of(message: OutgoingMessage, limits: MessageLimits) -> int:
    """Bytes the message counts against `limits.max_message_bytes`."""
    key = _length(message.key)
    size = len(message.payload) + key
    if limits.key_is_attribute:
        size += len("key") + limits.attribute_overhead
    for name, value in message.attributes.items():
        size += _length(name) + _length(value) + limits.attribute_overhead
    return size


def check(message: OutgoingMessage, limits: MessageLimits) -> MessageTooLargeError | None:
    """Why the broker would refuse the message for its size, or None if it fits. It runs
    for every message published: the exact pass over the attributes took ~1.3 µs a
    message here, ~0.75 µs with the bound first."""
    if limits.total_only and _bound(message, limits) <= limits.max_message_bytes:
        return None
    size = len(message.payload) + _length(message.key)
    count = len(message.attributes)
    long_names: list[str] = []
    long_values: list[str] = []
    name_limit, value_limit = limits.max_attribute_key_bytes, limits.max_attribute_value_bytes
    if limits.key_is_attribute:
        size += len("key") + limits.attribute_overhead
        count += 1
        if value_limit is not None and _length(message.key) > value_limit:
            long_values.append("key")
    for name, value in message.attributes.items():
        name_bytes, value_bytes = _length(name), _length(value)
        size += name_bytes + value_bytes + limits.attribute_overhead
        if name_limit is not None and name_bytes > name_limit:
            long_names.append(name)
        if value_limit is not None and value_bytes > value_limit:
            long_values.append(name)
    if (
        size <= limits.max_message_bytes
        and not long_names
        and not long_values
        and (limits.max_attributes is None or count <= limits.max_attributes)
    ):
        return None
    return MessageTooLargeError(_problems(limits, size, count, long_names, long_values), limits)


def _problems(
    limits: MessageLimits, size: int, count: int, long_names: list[str], long_values: list[str]
) -> str:
    problems = []
    if limits.max_attributes is not None and count > limits.max_attributes:
        problems.append(f"{count} attributes, over {limits.max_attributes}")
    if long_names:
        problems.append(f"attribute names over {limits.max_attribute_key_bytes} bytes")
    if long_values:
        names = ", ".join(_clip(k, 40) for k in sorted(long_values)[:5])
        problems.append(f"values over {limits.max_attribute_value_bytes} bytes ({names})")
    if size > limits.max_message_bytes:
        problems.append(f"{size} bytes, over the {limits.max_message_bytes}-byte limit")
    return "; ".join(problems)


def shrink_to_fit(
    message: OutgoingMessage, limits: MessageLimits, keep: Sequence[str] = ()
) -> OutgoingMessage:
    """The message cut down to `limits`, with an attribute `truncated` saying what was cut.

    Attribute names too long and attributes over the count are dropped (those named in
    `keep` last), values too long are truncated, and if it is still too large the body is
    dropped, then every value cut to 1 KB, then every attribute dropped but `keep`.

    Args:
        message: the message to shrink.
        limits: the broker's limits.
        keep: attributes to keep before any other (for dead letters: the reason).
    """
    notes: list[str] = []
    key, attributes = _shrink_attributes(message, limits, keep, notes)
    shrunk = OutgoingMessage(key=key, payload=message.payload, attributes=attributes)
    # What is left once the `truncated` note itself is added.
    room = limits.max_message_bytes - (
        len(TRUNCATED) + _LAST_RESORT_VALUE_BYTES + limits.attribute_overhead
    )
    if size_of(shrunk, limits) > room:
        notes.append(f"body of {len(message.payload)} bytes dropped")
        shrunk = OutgoingMessage(key=key, payload=b"", attributes=attributes)
    if size_of(shrunk, limits) > room:
        notes.append(f"values cut to {_LAST_RESORT_VALUE_BYTES} bytes")
        attributes = {k: _clip(v, _LAST_RESORT_VALUE_BYTES) for k, v in attributes.items()}
    if size_of(OutgoingMessage(key, b"", attributes), limits) > room:  # thousands of headers
        notes.append("attributes dropped but those kept first")
        attributes = {k: v for k, v in attributes.items() if k in keep}
    if notes:
        attributes[TRUNCATED] = _clip("; ".join(notes), limits.max_attribute_value_bytes or 1024)
    return OutgoingMessage(key=key, payload=shrunk.payload, attributes=attributes)


def _shrink_attributes(
    message: OutgoingMessage, limits: MessageLimits, keep: Sequence[str], notes: list[str]
) -> tuple[str, dict[str, str]]:
    value_limit = limits.max_attribute_value_bytes
    name_limit = limits.max_attribute_key_bytes
    key = message.key
    if limits.key_is_attribute and value_limit is not None and _length(key) > value_limit:
        key = _clip(key, value_limit)
        notes.append("key")
    ordered = sorted(message.attributes.items(), key=lambda item: item[0] not in keep)
    attributes: dict[str, str] = {}
    cut: list[str] = []
    dropped = 0
    # Room for `key` (Pub/Sub) and `truncated` themselves.
    room = None if limits.max_attributes is None else limits.max_attributes - 2
    for name, value in ordered:
        if (name_limit is not None and _length(name) > name_limit) or (
            room is not None and len(attributes) >= room
        ):
            dropped += 1
            continue
        if value_limit is not None and _length(value) > value_limit:
            value = _clip(value, value_limit)
            cut.append(name)
        attributes[name] = value
    if cut:
        notes.append("values of " + ",".join(_clip(n, 40) for n in cut[:10]))
    if dropped:
        notes.append(f"{dropped} attributes dropped")
    return key, attributes


def _clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (never inside a character), marked with …."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode())
    return data[:room].decode("utf-8", "ignore") + _ELLIPSIS


class FittingPublisher(Publisher):
    """Publishes through `inner`; what it refuses as too large is published again, shrunk.

    For dead letters, where the reason matters more than the body: a 1 MB message that
    fitted the input topic no longer fits once the reason is added.

    Args:
        inner: the broker's publisher.
        keep: attributes to keep whatever else is cut.
    """

    def __init__(self, inner: Publisher, keep: Sequence[str] = ()) -> None:
        self._inner = inner
        self._keep = tuple(keep)

    def connect(self) -> None:
        self._inner.connect()

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        results = self._inner.publish(messages)
        too_large = [
            (i, r.message, r.error)
            for i, r in enumerate(results)
            if isinstance(r.error, MessageTooLargeError)
        ]
        if not too_large:
            return results
        for _, message, error in too_large:
            log_event(
                logger, "message_shrunk", logging.WARNING, key=_clip(message.key, 80), error=error
            )
        shrunk = [shrink_to_fit(m, error.limits, self._keep) for _, m, error in too_large]
        for (i, _, _), result in zip(too_large, self._inner.publish(shrunk), strict=True):
            results[i] = result
        return results

    def close(self) -> None:
        self._inner.close()
