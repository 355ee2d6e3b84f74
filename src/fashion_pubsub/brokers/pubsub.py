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

from fashion_pubsub.brokers.base import (
    Broker,
    Consumer,
    Message,
    OutgoingMessage,
    Publisher,
    PublishResult,
)
from fashion_pubsub.brokers.errors import BrokerError, BrokerUnavailableError, TopicNotFoundError
from fashion_pubsub.brokers.pubsub_acks import acknowledge
from fashion_pubsub.logs import log_event
from fashion_pubsub.settings import PubSubSettings, TopicSettings

logger = logging.getLogger(__name__)

_ADMIN_TIMEOUT = 30.0
# Admin calls retry briefly: an unreachable service should be an error in seconds, not minutes.
_ADMIN_RETRY = retry.Retry(predicate=retry.if_exception_type(gexc.ServiceUnavailable), timeout=10.0)
_PUBLISH_TIMEOUT = 60.0
_MESSAGES_PER_CALL = 100
_EMPTY_PULL_PAUSE_SECONDS = 0.005
_MAX_EMPTY_PULL_PAUSE_SECONDS = 0.05
KEEP_SUFFIX = "-keep"


def _transport_kwargs(settings: PubSubSettings, kind: str) -> dict[str, Any]:
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
        publisher = pubsub_v1.PublisherClient(**_transport_kwargs(self._settings, "publisher"))
        subscriber = pubsub_v1.SubscriberClient(**_transport_kwargs(self._settings, "subscriber"))
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
    """

    def __init__(self, settings: PubSubSettings, topic: str) -> None:
        from google.pubsub_v1 import PublisherClient

        self._client = PublisherClient(**_transport_kwargs(settings, "publisher"))
        self._topic = self._client.topic_path(settings.project_id, topic)

    def publish(self, messages: Iterable[OutgoingMessage]) -> list[PublishResult]:
        results: list[PublishResult] = []
        chunk: list[OutgoingMessage] = []
        for message in messages:
            chunk.append(message)
            if len(chunk) == _MESSAGES_PER_CALL:  # send while the caller builds the rest
                results += self._send(chunk)
                chunk = []
        if chunk:
            results += self._send(chunk)
        return results

    def _send(self, chunk: list[OutgoingMessage]) -> list[PublishResult]:
        from google.pubsub_v1 import PublishRequest, PubsubMessage

        request = PublishRequest.pb()(
            topic=self._topic,
            messages=[
                PubsubMessage.pb()(data=m.payload, attributes={**m.attributes, "key": m.key})
                for m in chunk
            ],
        )
        try:
            response = self._client.publish(request=request, timeout=_PUBLISH_TIMEOUT)
        except gexc.NotFound:
            return _failed(chunk, "topic not found: run `fashion-pubsub init-brokers`")
        except gexc.GoogleAPIError as exc:  # call errors and retries exhausted: per message
            return _failed(chunk, f"{type(exc).__name__}: {exc}")
        return [
            PublishResult(m, message_id=i) for m, i in zip(chunk, response.message_ids, strict=True)
        ]

    def close(self) -> None:
        self._client.transport.close()  # type: ignore[no-untyped-call]


def _failed(chunk: list[OutgoingMessage], error: str) -> list[PublishResult]:
    return [PublishResult(m, error=error) for m in chunk]


class PubSubConsumer(Consumer):
    """Synchronous pull in batches from the input subscription; acks and nacks in batches."""

    def __init__(self, settings: PubSubSettings, topics: TopicSettings, unavailable: Any) -> None:
        self._client = pubsub_v1.SubscriberClient(**_transport_kwargs(settings, "subscriber"))
        self._path = self._client.subscription_path(settings.project_id, topics.subscription)
        self._unavailable = unavailable
        self._ack_deadline = settings.ack_deadline_seconds
        self._idle_pause = _EMPTY_PULL_PAUSE_SECONDS

    def receive(self, max_messages: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            received = self._pull(max_messages, timeout)
            if received:
                self._idle_pause = _EMPTY_PULL_PAUSE_SECONDS
                return [self._to_message(r) for r in received]
            # The emulator answers an empty pull at once instead of holding it: pulling
            # again straight away kept half a core busy doing nothing. Pause after an
            # empty pull, longer while the subscription stays empty (at most 50 ms).
            time.sleep(self._idle_pause)
            self._idle_pause = min(self._idle_pause * 2, _MAX_EMPTY_PULL_PAUSE_SECONDS)
            if time.monotonic() >= deadline:
                return []

    def _pull(self, max_messages: int, timeout: float) -> list[Any]:
        try:
            response = self._client.pull(
                subscription=self._path,
                max_messages=max_messages,
                timeout=max(timeout, 0.5),
                retry=None,
            )
        except gexc.DeadlineExceeded:
            return []
        except gexc.NotFound as exc:
            raise TopicNotFoundError(
                f"subscription {self._path} does not exist: run `fashion-pubsub init-brokers`"
            ) from exc
        except gexc.ServiceUnavailable as exc:
            raise self._unavailable(exc) from exc
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

    def _acknowledge(self, subscription: str, ack_ids: list[str]) -> None:
        """Acknowledge, reading the ack results of an exactly-once subscription."""

        def send(ids: list[str]) -> None:
            self._client.acknowledge(subscription=subscription, ack_ids=ids)

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
        """Ack, nack or extend; a failure is logged, not raised: the messages are simply
        delivered again once their lease runs out, and their results are recognised."""
        try:
            call(subscription=self._path, ack_ids=[m.handle for m in messages])
        except gexc.GoogleAPIError as exc:
            log_event(
                logger,
                f"{verb}_failed",
                logging.WARNING,
                messages=len(messages),
                first=messages[0].position,
                error=exc,
            )

    def close(self) -> None:
        self._client.close()
