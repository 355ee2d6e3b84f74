"""Google Cloud Pub/Sub on google-cloud-pubsub: the emulator when an emulator host is set,
the real service (Application Default Credentials) otherwise.

The input subscription has a dead-letter policy, a retry policy and an ack
deadline; the dead-letter and predictions topics each get a `-keep` subscription
so their messages are retained for whoever inspects them.
"""

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2

from fashion_pubsub.brokers.backoff import Backoff
from fashion_pubsub.brokers.base import (
    Broker,
    Consumer,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
)
from fashion_pubsub.brokers.errors import (
    BrokerError,
    BrokerUnavailableError,
    PublishError,
    TopicNotFoundError,
)
from fashion_pubsub.brokers.limits import PUBSUB_LIMITS, check
from fashion_pubsub.brokers.ordered_calls import OrderedCalls
from fashion_pubsub.brokers.pubsub_acks import acknowledge
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import PubSubSettings, TopicSettings

logger = logging.getLogger(__name__)

_ADMIN_TIMEOUT = 30.0
# Admin calls retry briefly: an unreachable service should be an error in seconds, not minutes.
_ADMIN_RETRY = retry.Retry(predicate=retry.if_exception_type(gexc.ServiceUnavailable), timeout=10.0)
_PUBLISH_TIMEOUT = 60.0
_CONNECT_TIMEOUT = 10.0
_MESSAGES_PER_CALL = 100
# Pub/Sub's limit for one Publish request is 10 MB; keep room for the request's framing.
_MAX_REQUEST_BYTES = 9_000_000
# Errors after which the same call may succeed later.
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.TooManyRequests,
    gexc.Unknown,
    gexc.RetryError,
)
_EMPTY_PULL_PAUSE_SECONDS = 0.005
_MAX_EMPTY_PULL_PAUSE_SECONDS = 0.05
_QUIET_SECONDS = 1.0  # no message for this long: the subscription counts as idle
# Acks, nacks and extensions waiting to be sent before the next one waits: a few
# batches' worth, far below any lease. Each is retried for a while when the service is
# unavailable (not the client's 60 s), and `close` waits a while for them: what is not
# settled comes again once its lease runs out, and its result is recognised.
_MOST_SETTLES_WAITING = 4
_SETTLE_RETRY = retry.Retry(predicate=retry.if_exception_type(gexc.ServiceUnavailable), timeout=5.0)
_SETTLE_TIMEOUT_SECONDS = 5.0
_SETTLE_PATIENCE_SECONDS = 5.0
# After a failed pull: wait 0.1 s, doubling to 5 s, in naps of at most 0.5 s each.
_FIRST_BACKOFF_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 5.0
_MAX_BACKOFF_SLEEP_SECONDS = 0.5
KEEP_SUFFIX = "-keep"


def transport_kwargs(settings: PubSubSettings, kind: str) -> dict[str, Any]:
    """Client arguments: an insecure channel to the emulator, or nothing (real service)."""
    if not settings.emulator_host:
        return {}
    import grpc

    channel = grpc.insecure_channel(settings.emulator_host)
    if kind == "publisher":
        from google.pubsub_v1.services.publisher.transports.grpc import PublisherGrpcTransport

        return {"transport": PublisherGrpcTransport(channel=channel)}
    from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

    return {"transport": SubscriberGrpcTransport(channel=channel)}


class PubSubBroker(Broker):
    """Pub/Sub topics, subscriptions, publishers and pull consumers.

    Args:
        settings: project, emulator host, subscription policies.
        topics: topic and subscription names.
    """

    name = "google-pubsub"

    def __init__(self, settings: PubSubSettings, topics: TopicSettings) -> None:
        self._settings = settings
        self._topics = topics

    def _where(self) -> str:
        return (
            f"the Pub/Sub emulator at {self._settings.emulator_host}"
            if self._settings.emulator_host
            else "Google Cloud Pub/Sub"
        )

    def _unavailable(self, exc: Exception) -> BrokerUnavailableError:
        return BrokerUnavailableError(
            f"{self._where()} did not answer ({exc}); start the emulator with "
            "`fashion-pubsub infra up` or set PUBSUB_EMULATOR_HOST"
        )

    @contextmanager
    def _admin_clients(self) -> Iterator[tuple[Any, Any]]:
        """A publisher and a subscriber client for topic administration, closed after."""
        publisher = pubsub_v1.PublisherClient(**transport_kwargs(self._settings, "publisher"))
        subscriber = pubsub_v1.SubscriberClient(**transport_kwargs(self._settings, "subscriber"))
        try:
            yield publisher, subscriber
        finally:
            subscriber.close()
            publisher.transport.close()

    def _kept_topics(self) -> tuple[str, str]:
        """Topics whose messages a `-keep` subscription retains."""
        return (self._topics.dead_letter_topic, self._topics.predictions_topic)

    def ensure_topics(self) -> None:
        project = self._settings.project_id
        with self._admin_clients() as (publisher, subscriber):
            for topic in self._topics.topic_names:
                self._create(
                    lambda t=topic: publisher.create_topic(
                        name=publisher.topic_path(project, t),
                        timeout=_ADMIN_TIMEOUT,
                        retry=_ADMIN_RETRY,
                    )
                )
            self._create(
                lambda: subscriber.create_subscription(
                    request=self._input_subscription(publisher, subscriber),
                    timeout=_ADMIN_TIMEOUT,
                    retry=_ADMIN_RETRY,
                )
            )
            for topic in self._kept_topics():
                self._create(
                    lambda t=topic: subscriber.create_subscription(
                        name=subscriber.subscription_path(project, t + KEEP_SUFFIX),
                        topic=publisher.topic_path(project, t),
                        timeout=_ADMIN_TIMEOUT,
                        retry=_ADMIN_RETRY,
                    )
                )

    def _input_subscription(self, publisher: Any, subscriber: Any) -> dict[str, Any]:
        s, project = self._settings, self._settings.project_id
        return {
            "name": subscriber.subscription_path(project, self._topics.subscription),
            "topic": publisher.topic_path(project, self._topics.input_topic),
            "ack_deadline_seconds": s.ack_deadline_seconds,
            "dead_letter_policy": {
                "dead_letter_topic": publisher.topic_path(project, self._topics.dead_letter_topic),
                "max_delivery_attempts": s.max_delivery_attempts,
            },
            "retry_policy": {
                "minimum_backoff": duration_pb2.Duration(seconds=s.min_retry_backoff_seconds),
                "maximum_backoff": duration_pb2.Duration(seconds=s.max_retry_backoff_seconds),
            },
            # No redelivery after a successful ack, and acks that say whether they were.
            "enable_exactly_once_delivery": s.exactly_once_delivery,
        }

    def _create(self, call: Any) -> None:
        created = self._admin(call, gexc.AlreadyExists, "create")
        if created is not None:
            log_event(logger, "created", name=created.name)

    def delete_topics(self) -> None:
        project = self._settings.project_id
        subscriptions = [self._topics.subscription, *(t + KEEP_SUFFIX for t in self._kept_topics())]
        with self._admin_clients() as (publisher, subscriber):
            # Subscriptions too: deleting a topic leaves its subscriptions behind, detached.
            deletions = [
                partial(
                    subscriber.delete_subscription,
                    subscription=subscriber.subscription_path(project, name),
                )
                for name in subscriptions
            ] + [
                partial(publisher.delete_topic, topic=publisher.topic_path(project, name))
                for name in self._topics.topic_names
            ]
            for delete in deletions:
                self._admin(
                    partial(delete, timeout=_ADMIN_TIMEOUT, retry=_ADMIN_RETRY),
                    gexc.NotFound,
                    "delete",
                )

    def _admin(self, call: Any, tolerated: type[Exception], verb: str) -> Any:
        """Run an admin call; None if it raised `tolerated` (already done)."""
        try:
            return call()
        except tolerated:
            return None
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.RetryError) as exc:
            raise self._unavailable(exc) from exc
        except gexc.GoogleAPICallError as exc:
            raise BrokerError(f"Pub/Sub refused to {verb} a resource: {exc}") from exc

    def publisher(self, topic: str) -> Publisher:
        return PubSubPublisher(self._settings, topic)

    def consumer(self) -> Consumer:
        return PubSubConsumer(self._settings, self._topics, self._unavailable)


class PubSubPublisher(Publisher):
    """Sends each batch as Publish calls of up to `_MESSAGES_PER_CALL` messages.

    google-cloud-pubsub's batching publisher spends ~40 us of CPU per message on futures,
    locks and wrapper objects (measured); our batches are already batches, so one
    Publish call per chunk of raw protobuf messages does the same work for a fraction.

    Pub/Sub refuses a whole call for one message over its limits, so each message is
    checked first: one that cannot be sent fails alone, in its result. A call stays under
    the 10 MB request limit too.

    Args:
        settings: project and emulator host.
        topic: the topic to publish to.
    """

    limits = PUBSUB_LIMITS

    def __init__(self, settings: PubSubSettings, topic: str) -> None:
        from google.pubsub_v1 import PublisherClient

        self._client = PublisherClient(**transport_kwargs(settings, "publisher"))
        self._topic = self._client.topic_path(settings.project_id, topic)

    def connect(self) -> None:
        # gRPC connects on a channel's first call: without this, the first Publish
        # carried the connection (4.3-4.6 ms against 2.3-2.9 after it, measured on the
        # emulator).
        try:
            self._client.get_topic(topic=self._topic, timeout=_CONNECT_TIMEOUT, retry=None)
        except gexc.PermissionDenied:
            pass  # connected; a role that may only publish (roles/pubsub.publisher) lands here
        except gexc.GoogleAPIError as exc:
            log_event(logger, "topic_unreachable", logging.WARNING, topic=self._topic, error=exc)

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        results: list[PublishResult | None] = []
        chunk: list[tuple[int, OutgoingMessage, Any]] = []
        chunk_bytes = 0
        for index, message in enumerate(messages):
            results.append(None)
            encoded = self._encode(message)
            if isinstance(encoded, PublishError):
                results[index] = PublishResult(message, error=encoded)
                continue
            size = encoded.ByteSize()
            if chunk and (
                len(chunk) == _MESSAGES_PER_CALL or chunk_bytes + size > _MAX_REQUEST_BYTES
            ):  # send while the caller builds the rest
                self._send_into(results, chunk)
                chunk, chunk_bytes = [], 0
            chunk.append((index, message, encoded))
            chunk_bytes += size
        if chunk:
            self._send_into(results, chunk)
        return [r for r in results if r is not None]

    def _encode(self, message: OutgoingMessage) -> Any:
        """The raw protobuf message, or the error that keeps it from being sent."""
        from google.pubsub_v1 import PubsubMessage

        refused = check(message, self.limits)
        if refused is not None:
            return refused
        try:
            return PubsubMessage.pb()(
                data=message.payload, attributes={**message.attributes, "key": message.key}
            )
        except (UnicodeError, TypeError, ValueError) as exc:  # an attribute that is not text
            return PublishError(f"Pub/Sub cannot send this message: {exc}", cause=exc)

    def _send_into(
        self, results: list[PublishResult | None], chunk: list[tuple[int, OutgoingMessage, Any]]
    ) -> None:
        for (index, _, _), result in zip(chunk, self._send(chunk), strict=True):
            results[index] = result

    def _send(self, chunk: list[tuple[int, OutgoingMessage, Any]]) -> list[PublishResult]:
        from google.pubsub_v1 import PublishRequest

        request = PublishRequest.pb()(topic=self._topic, messages=[e for _, _, e in chunk])
        try:
            response = self._client.publish(request=request, timeout=_PUBLISH_TIMEOUT)
        except gexc.InvalidArgument as exc:
            if len(chunk) > 1:  # one message spoils the call: send each alone to find it
                return [r for item in chunk for r in self._send([item])]
            return _failed(chunk, PublishError(f"Pub/Sub refused the message: {exc}", cause=exc))
        except gexc.NotFound as exc:
            error = PublishError("topic not found: run `fashion-pubsub init-brokers`", cause=exc)
            return _failed(chunk, error)
        except gexc.GoogleAPIError as exc:  # call errors and retries exhausted: per message
            retriable = isinstance(exc, _TRANSIENT)
            error = PublishError(f"{type(exc).__name__}: {exc}", retriable=retriable, cause=exc)
            return _failed(chunk, error)
        return [
            PublishResult(m, message_id=i)
            for (_, m, _), i in zip(chunk, response.message_ids, strict=True)
        ]

    def close(self) -> None:
        self._client.transport.close()  # type: ignore[no-untyped-call]


def _failed(
    chunk: list[tuple[int, OutgoingMessage, Any]], error: PublishError
) -> list[PublishResult]:
    return [PublishResult(m, error=error) for _, m, _ in chunk]


class PubSubConsumer(Consumer):
    """Synchronous pull in batches from the input subscription; acks, nacks and lease
    extensions in batches, sent behind the caller's back, in order (`OrderedCalls`);
    `close` waits a few seconds for them."""

    def __init__(self, settings: PubSubSettings, topics: TopicSettings, unavailable: Any) -> None:
        self._client = pubsub_v1.SubscriberClient(**transport_kwargs(settings, "subscriber"))
        self._path = self._client.subscription_path(settings.project_id, topics.subscription)
        self._unavailable = unavailable
        self._ack_deadline = settings.ack_deadline_seconds
        self._idle_pause = _EMPTY_PULL_PAUSE_SECONDS
        self._last_message = 0.0
        self._pull_failures = Backoff(_FIRST_BACKOFF_SECONDS, _MAX_BACKOFF_SECONDS)
        self._settling = OrderedCalls("pubsub-settle", _MOST_SETTLES_WAITING)
        self._closed = False

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            received = self._pull(max_messages, timeout)
            if received:
                self._idle_pause = _EMPTY_PULL_PAUSE_SECONDS
                self._last_message = time.monotonic()
                return [self._to_message(r) for r in received]
            # The emulator answers an empty pull at once instead of holding it: pulling
            # again straight away kept half a core busy doing nothing. Pause after an
            # empty pull. The pause grows (to 50 ms) only once nothing has come for a
            # second: growing it in the gaps of a steady stream could hold a message up
            # to 50 ms (the emulator's p99 was 59-64 ms at 200 and 1,000 images/s,
            # issue 18), for the sake of an idle CPU the stream does not give anyway.
            time.sleep(self._pause(timeout, deadline))
            if time.monotonic() - self._last_message > _QUIET_SECONDS:
                self._idle_pause = min(self._idle_pause * 2, _MAX_EMPTY_PULL_PAUSE_SECONDS)
            if time.monotonic() >= deadline:
                return []

    def _pause(self, timeout: float, deadline: float) -> float:
        """The pause after an empty pull. While messages flow, a caller that gave a
        timeout is not held past it: a subscriber filling a batch behind a backlog waits
        its own window, not a pull and a whole pause beyond. A look without a timeout
        still pauses whole (it paces the idle loop), and so does a quiet subscription's
        longer pause, to keep an idle subscriber's pulls few."""
        if timeout <= 0 or self._idle_pause > _EMPTY_PULL_PAUSE_SECONDS:
            return self._idle_pause
        return max(0.0, min(self._idle_pause, deadline - time.monotonic()))

    def _pull(self, max_messages: int, timeout: float) -> list[Any]:
        """A pull; nothing while Pub/Sub fails in a way that may pass (then wait a while)."""
        wait = self._pull_failures.remaining()
        if wait > 0:  # backing off: come back to the caller, who may want to stop
            time.sleep(min(wait, _MAX_BACKOFF_SLEEP_SECONDS))
            return []
        try:
            response = self._client.pull(
                subscription=self._path,
                max_messages=max_messages,
                timeout=max(timeout, 0.5),
                retry=None,
            )
        except gexc.NotFound as exc:
            raise TopicNotFoundError(
                f"subscription {self._path} does not exist: run `fashion-pubsub init-brokers`"
            ) from exc
        except gexc.DeadlineExceeded:
            return []  # a long pull that found nothing: not a failure
        except _TRANSIENT as exc:
            # UNAVAILABLE and the like while the service restarts or the network drops:
            # the subscriber keeps running and pulls again after a backoff.
            backoff = self._pull_failures.failed()
            log_event(
                logger,
                "pull_failed",
                logging.WARNING,
                subscription=self._path,
                retry_in=round(backoff, 3),
                failures=self._pull_failures.count,
                error=f"{type(exc).__name__}: {exc}",
            )
            return []
        if self._pull_failures.count:
            log_event(logger, "pull_recovered", failures=self._pull_failures.count)
            self._pull_failures.reset()
        # The raw protobuf, not the proto-plus wrapper: each wrapped field access is a
        # Python-level conversion, several per message, thousands of messages a second.
        return list(type(response).pb(response).received_messages)

    @staticmethod
    def _to_message(received: Any) -> Message:
        attributes = dict(received.message.attributes)
        return Message(
            payload=received.message.data,
            attributes=attributes,
            key=attributes.get("key"),
            delivery_attempt=max(received.delivery_attempt, 1),
            position=f"pubsub:{received.message.message_id}",
            handle=received.ack_id,
        )

    def ack(self, messages: Sequence[Message]) -> None:
        if messages:
            self._settle("ack", self._acknowledge, messages)

    def _acknowledge(self, subscription: str, ack_ids: list[str], **options: Any) -> None:
        """Acknowledge, reading the ack results of an exactly-once subscription."""

        def send(ids: list[str]) -> None:
            self._client.acknowledge(subscription=subscription, ack_ids=ids, **options)

        acknowledge(send, ack_ids)

    def nack(self, messages: Sequence[Message]) -> None:
        if messages:
            change = partial(self._client.modify_ack_deadline, ack_deadline_seconds=0)
            self._settle("nack", change, messages)

    def extend(self, messages: Sequence[Message]) -> None:
        if messages:
            change = partial(
                self._client.modify_ack_deadline, ack_deadline_seconds=self._ack_deadline
            )
            self._settle("extend", change, messages)

    def _settle(self, verb: str, call: Any, messages: Sequence[Message]) -> None:
        """Ack, nack or extend in the background (see `OrderedCalls`)."""
        ack_ids, first = [m.handle for m in messages], messages[0].position
        self._settling.call(partial(self._settle_now, verb, call, ack_ids, first))

    def _settle_now(self, verb: str, call: Any, ack_ids: list[str], first: str) -> None:
        """A failure is logged, not raised: the messages are simply delivered again once
        their lease runs out, and their results are recognised."""
        try:
            call(
                subscription=self._path,
                ack_ids=ack_ids,
                retry=_SETTLE_RETRY,
                timeout=_SETTLE_TIMEOUT_SECONDS,
            )
        except ValueError:
            if not self._closed:
                raise
            # gRPC's "closed channel": `close` stopped waiting for this call (it counted
            # it as unsent) and closed the client under it.
        except gexc.GoogleAPIError as exc:
            log_event(
                logger,
                f"{verb}_failed",
                logging.WARNING,
                messages=len(ack_ids),
                first=first,
                error=exc,
            )

    def close(self) -> None:
        try:
            unsent = self._settling.close(_SETTLE_PATIENCE_SECONDS)
            if unsent:
                log_event(logger, "settles_unsent", logging.WARNING, calls=unsent)
        finally:
            self._closed = True
            self._client.close()
