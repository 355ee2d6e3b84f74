"""An in-memory broker behind the same interface, for fast tests of the pipeline's logic.

It runs in the test's process, needs no server, and behaves like one of the two
brokers, chosen by `flavour`:

- "kafka": topics have partitions and offsets. The members of the consumer group share
  the input topic's partitions and read each in order; `nack` seeks back, so everything
  from the lowest nacked offset comes again; acked offsets are committed per partition
  (never past a message still in flight, as `KafkaConsumer` does). A member joining or
  leaving moves partitions: the member giving one up runs its release callback, commits,
  and only then does the new owner read it, from the committed offset. `delivery_attempt`
  counts deliveries to this member, as `KafkaConsumer` counts them.
- "pubsub": one subscription on the input topic. A delivery leases the message for
  `ack_deadline_seconds` on the broker's clock; `extend` renews the lease; `nack` or an
  expired lease makes it deliverable again with `delivery_attempt` one higher; a message
  delivered `max_delivery_attempts` times goes to the dead-letter topic instead, without
  any reason, as the subscription's dead-letter policy does. An ack with an expired lease
  is lost (the message comes again), as with a stale ack id.

Failures to inject: `fail_publishes` (a broker refusing some messages), `on_publish`
(a hook run for every message, which may block), `max_message_bytes` (a size limit),
`commit_failures` (transactions that abort at commit).
Inspection: `messages(topic)`, `dead_letters()`, `committed()`, `unfinished()`,
`aborted(topic)`, `aborted_transactions` and `committed_transactions`.

The Kafka flavour also has transactions (`transactional_session`, see
memory_transactions.py), as `KafkaBroker` has.
"""

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from fashion_pubsub.brokers.base import (
    Broker,
    Consumer,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
)
from fashion_pubsub.brokers.errors import MessageTooLargeError, PublishError, TopicNotFoundError
from fashion_pubsub.brokers.kafka_offsets import PartitionOffsets
from fashion_pubsub.brokers.limits import MessageLimits
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.settings import TopicSettings

Flavour = Literal["kafka", "pubsub"]
PublishHook = Callable[[str, OutgoingMessage], None]


@dataclass(frozen=True)
class _Stored:
    """A message as a topic keeps it."""

    key: str | None
    payload: bytes
    attributes: dict[str, str]
    position: str


@dataclass
class _Leased:
    """A message of the Pub/Sub-like subscription and its lease."""

    stored: _Stored
    deliveries: int = 0
    lease_until: float | None = None  # None: deliverable
    token: int = 0  # which delivery an ack id belongs to


@dataclass
class _FailureRule:
    error: str
    when: Callable[[OutgoingMessage], bool]
    times: int | None


@dataclass
class _Member:
    """A Kafka-like group member's partitions and what it must give up."""

    owned: set[int] = field(default_factory=set)
    revoking: set[int] = field(default_factory=set)


class MemoryBroker(Broker):
    """Topics, a subscription or a consumer group, all in memory; thread-safe.

    Args:
        topics: topic names, as for the real brokers.
        flavour: behave like Kafka ("kafka") or Pub/Sub ("pubsub"), see the module doc.
        partitions: partitions per topic (Kafka-like; Pub/Sub-like topics have one).
        max_delivery_attempts: Pub/Sub-like dead-letter policy; None for none.
        ack_deadline_seconds: Pub/Sub-like lease length on `clock`.
        max_message_bytes: refuse larger messages (key, body and attributes counted).
        clock: seconds, for leases; pass a hand-driven clock to control expiry.
    """

    def __init__(
        self,
        topics: TopicSettings,
        flavour: Flavour = "kafka",
        partitions: int = 1,
        max_delivery_attempts: int | None = 5,
        ack_deadline_seconds: float = 60.0,
        max_message_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = f"memory-{flavour}"
        self.flavour = flavour
        self.transactional = flavour == "kafka"
        self.topics = topics
        self._partitions = partitions if flavour == "kafka" else 1
        self._max_attempts = max_delivery_attempts
        self._ack_deadline = ack_deadline_seconds
        self._max_bytes = max_message_bytes
        self.clock = clock
        self._lock = threading.Condition()
        self._logs: dict[str, list[list[_Stored]]] = {}
        self._subscription: list[_Leased] = []
        self._committed: dict[int, int] = {}
        self._members: list[_Member] = []
        self._failures: dict[str, list[_FailureRule]] = {}
        self._hook: PublishHook | None = None
        self.commit_failures = 0
        self.fenced = False
        self.aborted_transactions = 0
        self.committed_transactions = 0
        self._aborted: list[tuple[str, OutgoingMessage]] = []

    # --- Broker -------------------------------------------------------------------------

    def ensure_topics(self) -> None:
        with self._lock:
            for name in self.topics.topic_names:
                self._logs.setdefault(name, [[] for _ in range(self._partitions)])

    def delete_topics(self) -> None:
        with self._lock:
            self._logs.clear()
            self._subscription.clear()
            self._committed.clear()

    def publisher(self, topic: str) -> Publisher:
        return MemoryPublisher(self, topic)

    def consumer(self) -> Consumer:
        if self.flavour == "pubsub":
            return _SubscriptionConsumer(self)
        return _GroupConsumer(self)

    def transactional_session(self, instance_id: str) -> TransactionalSession:
        """Kafka flavour only: a consumer and publishers sharing transactions.

        Args:
            instance_id: unused (one process holds every instance); kept for the protocol.
        """
        if self.flavour != "kafka":
            raise ConfigurationError("transactions are Kafka's: the pubsub flavour has none")
        from fashion_pubsub.brokers.memory_transactions import MemoryTransactions

        return MemoryTransactions(self)

    # --- failure injection --------------------------------------------------------------

    def fail_publishes(
        self,
        topic: str,
        error: str,
        when: Callable[[OutgoingMessage], bool] = lambda _: True,
        times: int | None = None,
    ) -> None:
        """Refuse messages to `topic` for which `when` is true, `times` times (None: always).

        Args:
            topic: the topic.
            error: the error text of each refused message's result.
            when: which messages to refuse.
            times: how many messages to refuse before the rule ends.
        """
        with self._lock:
            self._failures.setdefault(topic, []).append(_FailureRule(error, when, times))

    def on_publish(self, hook: PublishHook | None) -> None:
        """Run `hook(topic, message)` before each message is stored, outside the broker's
        lock (it may block to hold a publisher, or raise to make `publish` raise)."""
        self._hook = hook

    # --- inspection ---------------------------------------------------------------------

    def messages(self, topic: str) -> list[Message]:
        """Every message stored in `topic`, partition by partition, as a consumer sees it."""
        with self._lock:
            stored = [s for log in self._logs.get(topic, []) for s in log]
        return [_message(s, attempt=1, handle=None) for s in stored]

    def dead_letters(self) -> list[Message]:
        """The dead-letter topic's messages."""
        return self.messages(self.topics.dead_letter_topic)

    def aborted(self, topic: str) -> list[OutgoingMessage]:
        """What aborted transactions published to `topic` (never stored in it)."""
        with self._lock:
            return [message for name, message in self._aborted if name == topic]

    def committed(self) -> dict[int, int]:
        """Kafka-like: the committed offset of each input partition that has one."""
        with self._lock:
            return dict(self._committed)

    def unfinished(self) -> int:
        """Input messages not acknowledged yet (Kafka-like: past the committed offsets)."""
        with self._lock:
            if self.flavour == "pubsub":
                return len(self._subscription)
            logs = self._logs.get(self.topics.input_topic, [])
            return sum(len(log) - self._committed.get(p, 0) for p, log in enumerate(logs))

    # --- internals shared with publishers and consumers ---------------------------------

    def _wait_for(
        self,
        take: Callable[[], list[Message]],
        timeout: float,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> list[Message]:
        """What `take` returns (under the lock) once it returns messages, `timeout` has passed
        or `interrupted` says so; a publish wakes the wait."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                taken = take()
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0 or interrupted():
                    return taken
                self._lock.wait(remaining)

    def _append(self, topic: str, partition: int, message: OutgoingMessage) -> PublishResult:
        """Store one message (the caller holds the lock)."""
        logs = self._logs.get(topic)
        if logs is None:
            return PublishResult(message, error=PublishError(f"topic {topic} not found"))
        refused = self._refusal(topic, message)
        if refused is not None:
            return PublishResult(message, error=refused)
        log = logs[partition % len(logs)]
        position = f"{topic}[{partition % len(logs)}]@{len(log)}"
        stored = _Stored(message.key, message.payload, dict(message.attributes), position)
        log.append(stored)
        if topic == self.topics.input_topic and self.flavour == "pubsub":
            self._subscription.append(_Leased(stored))
        self._lock.notify_all()
        return PublishResult(message, message_id=position)

    def _refusal(self, topic: str, message: OutgoingMessage) -> PublishError | None:
        if self._max_bytes is not None and _size(message) > self._max_bytes:
            return MessageTooLargeError(
                f"MSG_SIZE_TOO_LARGE: {_size(message)} bytes > {self._max_bytes}",
                MessageLimits(max_message_bytes=self._max_bytes),
            )
        for rule in self._failures.get(topic, []):
            if rule.times != 0 and rule.when(message):
                if rule.times is not None:
                    rule.times -= 1
                return PublishError(rule.error, retriable=True)  # a broker that failed
        return None

    def _dead_letter_by_policy(self, leased: _Leased) -> None:
        """The subscription's policy: forward as is, no reason (the caller holds the lock)."""
        self._subscription.remove(leased)
        stored = leased.stored
        outgoing = OutgoingMessage(stored.key or "", stored.payload, stored.attributes)
        self._append(self.topics.dead_letter_topic, 0, outgoing)


class MemoryPublisher(Publisher):
    """Publishes to one topic of a `MemoryBroker`; each batch goes to the next partition,
    as `KafkaPublisher` sends them."""

    def __init__(self, broker: MemoryBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic
        self._batches = 0

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        self._batches += 1
        results = []
        for message in messages:
            hook = self._broker._hook
            if hook is not None:
                hook(self._topic, message)
            results.append(self._store(message))
        return results

    def _store(self, message: OutgoingMessage) -> PublishResult:
        with self._broker._lock:
            return self._broker._append(self._topic, self._batches, message)

    def close(self) -> None:
        """Nothing is buffered."""


class _SubscriptionConsumer(Consumer):
    """Pub/Sub-like: leases on one shared subscription."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        return self._broker._wait_for(partial(self._take, max_messages), timeout)

    def _take(self, max_messages: int) -> list[Message]:
        broker, now = self._broker, self._broker.clock()
        taken: list[Message] = []
        for leased in list(broker._subscription):
            if len(taken) == max_messages:
                break
            if leased.lease_until is not None and leased.lease_until > now:
                continue  # leased to someone
            limit = broker._max_attempts
            if limit is not None and leased.deliveries >= limit:
                broker._dead_letter_by_policy(leased)
                continue
            leased.deliveries += 1
            leased.token += 1
            leased.lease_until = now + broker._ack_deadline
            taken.append(_message(leased.stored, leased.deliveries, (leased, leased.token)))
        return taken

    def _current(self, messages: Sequence[Message]) -> list[_Leased]:
        """The leases still held by these deliveries (expired or superseded ones are not)."""
        now = self._broker.clock()
        current = []
        for message in messages:
            leased, token = message.handle
            alive = leased.lease_until is not None and leased.lease_until > now
            if leased.token == token and alive and leased in self._broker._subscription:
                current.append(leased)
        return current

    def ack(self, messages: Sequence[Message]) -> None:
        with self._broker._lock:
            for leased in self._current(messages):
                self._broker._subscription.remove(leased)

    def nack(self, messages: Sequence[Message]) -> None:
        with self._broker._lock:
            for leased in self._current(messages):
                leased.lease_until = None
            self._broker._lock.notify_all()

    def extend(self, messages: Sequence[Message]) -> None:
        with self._broker._lock:
            for leased in self._current(messages):
                leased.lease_until = self._broker.clock() + self._broker._ack_deadline

    def close(self) -> None:
        """Leases simply run out, as with a real subscriber that goes away."""


class _GroupConsumer(Consumer):
    """Kafka-like: a member of the consumer group, reading its partitions in order."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._member = _Member()
        self._offsets: dict[int, PartitionOffsets] = {}
        self._positions: dict[int, int] = {}
        self.paused: set[int] = set()
        self.extensions = 0
        with broker._lock:
            broker._members.append(self._member)
            self._rebalance()

    def _rebalance(self) -> None:
        """Share the partitions out again: round robin over the members in joining order.
        A partition still owned by another member is revoked from it first (the caller
        holds the lock)."""
        broker = self._broker
        members = broker._members
        for partition in range(broker._partitions):
            target = members[partition % len(members)] if members else None
            owner = next((m for m in members if partition in m.owned), None)
            if owner is not None and owner is not target:
                owner.revoking.add(partition)
            elif owner is None and target is not None:
                target.owned.add(partition)

    def _serve_revocations(self) -> None:
        """What a poll does on a rebalance: release callback first, then commit, then hand
        the partitions over."""
        if not self._member.revoking:
            return
        self._released()  # outside the lock: the caller may ack from another thread's work
        broker = self._broker
        with broker._lock:
            for partition in self._member.revoking:
                self._member.owned.discard(partition)
                self._offsets.pop(partition, None)
                self._positions.pop(partition, None)
            self._member.revoking.clear()
            self._rebalance()

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        self._serve_revocations()
        self.paused.clear()  # resume after a hold
        take = partial(self._take, max_messages)
        return self._broker._wait_for(take, timeout, lambda: bool(self._member.revoking))

    def _take(self, max_messages: int) -> list[Message]:
        broker = self._broker
        logs = broker._logs.get(broker.topics.input_topic)
        if logs is None:
            raise TopicNotFoundError(f"topic {broker.topics.input_topic} not found")
        taken: list[Message] = []
        for partition in sorted(self._member.owned - self._member.revoking):
            log = logs[partition]
            start = self._positions.setdefault(partition, broker._committed.get(partition, 0))
            state = self._offsets.setdefault(partition, PartitionOffsets())
            end = min(len(log), start + max_messages - len(taken))
            for offset in range(start, end):
                attempt = state.delivered(offset)
                taken.append(_message(log[offset], attempt, (partition, offset)))
            self._positions[partition] = end
        return taken

    def ack(self, messages: Sequence[Message]) -> None:
        with self._broker._lock:
            touched = set()
            for message in messages:
                partition, offset = message.handle
                state = self._offsets.get(partition)
                if state is not None:  # revoked meanwhile: the new owner reads it again
                    state.acknowledged(offset)
                    touched.add(partition)
            for partition in touched:
                offset = self._offsets[partition].committable()
                if offset is not None:
                    self._offsets[partition].committed = offset
                    self._broker._committed[partition] = offset

    def nack(self, messages: Sequence[Message]) -> None:
        lowest: dict[int, int] = {}
        for message in messages:
            partition, offset = message.handle
            lowest[partition] = min(offset, lowest.get(partition, offset))
        with self._broker._lock:
            for partition, offset in lowest.items():
                state = self._offsets.get(partition)
                if state is not None:
                    state.rewound(offset)
                    self._positions[partition] = offset
            self._broker._lock.notify_all()

    def extend(self, messages: Sequence[Message]) -> None:
        """Pause the member's partitions and serve the group, as a held Kafka batch does."""
        self._serve_revocations()
        with self._broker._lock:
            self.paused |= self._member.owned
            self.extensions += 1

    def close(self) -> None:
        broker = self._broker
        with broker._lock:
            if self._member in broker._members:
                broker._members.remove(self._member)
                self._member.owned.clear()
                self._rebalance()
            broker._lock.notify_all()


def _message(stored: _Stored, attempt: int, handle: object) -> Message:
    return Message(
        payload=stored.payload,
        attributes=dict(stored.attributes),
        key=stored.key,
        delivery_attempt=attempt,
        position=stored.position,
        handle=handle,
    )


def _size(message: OutgoingMessage) -> int:
    attributes = sum(len(k.encode()) + len(v.encode()) for k, v in message.attributes.items())
    return len(message.key.encode()) + len(message.payload) + attributes
