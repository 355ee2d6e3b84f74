"""Exactly-once batches sharing one transaction (pipeline/transaction.py), driven step by
step on the in-memory broker's Kafka-like transactions: several batches commit together,
on the interval, when idle, before a rebalance and at close; an abort rolls all of them
back and they come again, without a duplicate anywhere."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.pipeline.results import DoneIndex
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.settings import SubscriberSettings
from tests.support.fakes import FakeModelClient
from tests.support.memory_input import image_messages, make_broker, publish

BATCH = 8
NEVER = 10.0  # an interval no step reaches: only idle, rebalance and close commit


def settings_in(folder: Path, interval: float) -> SubscriberSettings:
    return SubscriberSettings(
        output_dir=folder,
        batch_size=BATCH,
        max_wait_seconds=0,
        transaction_interval_seconds=interval,
    )


def channels_of(broker: MemoryBroker, session: TransactionalSession) -> Channels:
    return Channels(
        consumer=session.consumer,
        predictions=session.publisher(broker.topics.predictions_topic),
        dead_letters=session.publisher(broker.topics.dead_letter_topic),
        transactions=session,
    )


@contextmanager
def subscriber_on(
    broker: MemoryBroker, settings: SubscriberSettings, name: str = "unit"
) -> Iterator[tuple[ImageSubscriber, TransactionalSession]]:
    """A started exactly-once subscriber, for the test to step; closed afterwards."""
    with broker.transactional_session(name) as session:
        client = FakeModelClient()
        subscriber = ImageSubscriber(channels_of(broker, session), client, settings, Stats())  # type: ignore[arg-type]
        subscriber.start()
        try:
            yield subscriber, session
        finally:
            subscriber.close()


def steps(subscriber: ImageSubscriber, count: int) -> None:
    for _ in range(count):
        assert subscriber.step(threading.Event()), "a step found no messages"


def step_until_done(subscriber: ImageSubscriber, broker: MemoryBroker) -> None:
    for _ in range(100):
        if not broker.unfinished():
            return
        subscriber.step(threading.Event())
    raise AssertionError(f"{broker.unfinished()} input messages never committed")


def prediction_ids(broker: MemoryBroker) -> list[str]:
    return [m.attributes["image_id"] for m in broker.messages(broker.topics.predictions_topic)]


def logged_ids(settings: SubscriberSettings) -> list[str]:
    path = settings.results_path()
    lines = path.read_bytes().splitlines() if path.exists() else []
    return [orjson.loads(line)["image_id"] for line in lines]


def keys(messages: list[OutgoingMessage]) -> list[str]:
    return sorted(m.key for m in messages)


def assert_each_recorded_once(
    broker: MemoryBroker, settings: SubscriberSettings, messages: list[OutgoingMessage]
) -> None:
    """Every image has one committed prediction and one line in the results log."""
    assert sorted(prediction_ids(broker)) == keys(messages)
    assert sorted(logged_ids(settings)) == keys(messages)


def refuse_once(broker: MemoryBroker, key: str) -> None:
    """The broker refuses the prediction of `key`, once."""
    broker.fail_publishes(
        broker.topics.predictions_topic, "refused", when=lambda m: m.key == key, times=1
    )


def test_several_batches_commit_together_when_the_input_is_idle(tmp_path: Path) -> None:
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(3 * BATCH)
    publish(broker, messages)
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 3)  # two batches settled into the transaction, one in flight
        assert prediction_ids(broker) == [] and broker.committed() == {}
        assert logged_ids(settings) == []
        assert subscriber.step(threading.Event()) == 0  # idle: the third joins, all commit
        assert sorted(prediction_ids(broker)) == keys(messages)
        assert broker.committed() == {0: 3 * BATCH}
        assert broker.committed_transactions == 1
        assert sorted(logged_ids(settings)) == keys(messages)


def test_the_transaction_commits_once_the_interval_has_passed(tmp_path: Path) -> None:
    broker, settings = make_broker(), settings_in(tmp_path, 0.05)
    publish(broker, image_messages(3 * BATCH))
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 2)  # the first batch joins the transaction
        assert broker.committed_transactions == 0
        time.sleep(0.06)  # past the interval: the next batch to join commits both
        steps(subscriber, 1)
        assert broker.committed_transactions == 1
        assert broker.committed() == {0: 2 * BATCH}
        assert len(prediction_ids(broker)) == 2 * BATCH


def test_an_interval_of_zero_commits_every_batch(tmp_path: Path) -> None:
    broker, settings = make_broker(), settings_in(tmp_path, 0)
    publish(broker, image_messages(3 * BATCH))
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 3)
        assert broker.committed_transactions == 2
        assert broker.committed() == {0: 2 * BATCH}


def test_an_aborted_commit_rolls_back_every_batch_and_they_come_again_once(
    tmp_path: Path,
) -> None:
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(3 * BATCH)
    publish(broker, messages)
    broker.commit_failures = 1
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 3)
        subscriber.step(threading.Event())  # idle: the commit of all three batches aborts
        assert broker.aborted_transactions == 1
        aborted = [m.key for m in broker.aborted(broker.topics.predictions_topic)]
        assert sorted(aborted) == keys(messages)
        assert prediction_ids(broker) == [] and broker.committed() == {}
        assert logged_ids(settings) == []
        step_until_done(subscriber, broker)
    assert_each_recorded_once(broker, settings, messages)
    assert len(list(tmp_path.glob("*.png"))) == len(messages), "a retry added output files"


def test_a_batch_not_wholly_done_aborts_the_batches_before_it(tmp_path: Path) -> None:
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(3 * BATCH)
    publish(broker, messages)
    refused = messages[2 * BATCH + 1].key  # in the third batch
    refuse_once(broker, refused)
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 3)
        subscriber.step(threading.Event())  # the third batch settles: not wholly done
        assert broker.aborted_transactions == 1
        aborted = {m.key for m in broker.aborted(broker.topics.predictions_topic)}
        assert set(keys(messages[: 2 * BATCH])) <= aborted, "the batches before were kept"
        assert prediction_ids(broker) == [] and logged_ids(settings) == []
        step_until_done(subscriber, broker)
    assert_each_recorded_once(broker, settings, messages)


def test_closing_commits_the_open_transaction(tmp_path: Path) -> None:
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(2 * BATCH)
    publish(broker, messages)
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 2)
        assert prediction_ids(broker) == [] and broker.committed() == {}
    assert sorted(prediction_ids(broker)) == keys(messages)
    assert broker.committed() == {0: 2 * BATCH}
    assert sorted(logged_ids(settings)) == keys(messages)


def test_a_rebalance_commits_the_open_transaction_before_the_partitions_move(
    tmp_path: Path,
) -> None:
    broker = make_broker(partitions=2)
    first, second = image_messages(BATCH), image_messages(BATCH, start=BATCH)
    with broker.publisher(broker.topics.input_topic) as publisher:
        publisher.publish(first)  # each call goes to the next partition
        publisher.publish(second)
    settings = settings_in(tmp_path / "a", NEVER)
    with subscriber_on(broker, settings) as (subscriber, session):
        steps(subscriber, 2)  # one batch per partition: one settled, one in flight
        assert broker.committed() == {}
        other = settings_in(tmp_path / "b", NEVER)
        with subscriber_on(broker, other, "b") as (newcomer, _):
            # The newcomer joined: the next poll gives a partition up, committing first.
            assert session.consumer.receive(BATCH, 0) == []
            assert broker.committed() == {0: BATCH, 1: BATCH}
            assert sorted(prediction_ids(broker)) == keys(first + second)
            publish(broker, image_messages(BATCH, start=2 * BATCH))
            step_until_done(newcomer, broker)
    assert sorted(prediction_ids(broker)) == keys(image_messages(3 * BATCH))


def test_a_second_copy_in_a_later_batch_of_the_transaction_gets_no_prediction(
    tmp_path: Path,
) -> None:
    """A publisher killed between the broker's confirmation and the move publishes the
    file again; the copy lands in a later batch of the same open transaction."""
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(BATCH)
    publish(broker, messages)
    publish(broker, messages[:2])
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 2)
        assert subscriber.step(threading.Event()) == 0  # idle: both batches commit together
        assert broker.committed_transactions == 1 and broker.committed() == {0: BATCH + 2}
    assert_each_recorded_once(broker, settings, messages)


def test_an_unforeseen_failure_gives_back_every_batch_of_the_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The results folder failing to read (say) while a batch is being recorded into the
    open transaction: the transaction aborts, and no record claims an image whose
    prediction was rolled back."""
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(3 * BATCH)
    publish(broker, messages)
    with subscriber_on(broker, settings) as (subscriber, _):
        steps(subscriber, 2)  # one batch in the transaction, one being recorded into it
        refresh = DoneIndex.refresh
        failures = iter([OSError("results folder unreadable")])

        def failing_once(index: DoneIndex, rescan: bool = False) -> set[str]:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return refresh(index, rescan)

        monkeypatch.setattr(DoneIndex, "refresh", failing_once)
        steps(subscriber, 1)
        assert broker.aborted_transactions == 1 and broker.committed() == {}
        step_until_done(subscriber, broker)
    assert_each_recorded_once(broker, settings, messages)


def held_publishes(broker: MemoryBroker, key: str) -> threading.Event:
    """Hold the publish of `key`'s prediction until the returned event is set, as
    librdkafka holds the first publish after a commit (20 ms) when the coordinator has
    not finished that commit yet."""
    release = threading.Event()

    def hold(topic: str, message: OutgoingMessage) -> None:
        if topic == broker.topics.predictions_topic and message.key == key:
            release.wait(10)

    broker.on_publish(hold)
    return release


SMALL = 4  # images per batch of a steady stream: no backlog for a batch size of 64


def stream_settings(folder: Path) -> SubscriberSettings:
    return SubscriberSettings(
        output_dir=folder, batch_size=64, max_wait_seconds=0, transaction_interval_seconds=NEVER
    )


def stream_steps(
    subscriber: ImageSubscriber, broker: MemoryBroker, messages: list[OutgoingMessage]
) -> None:
    """A steady stream: SMALL messages come, the subscriber takes them as one batch."""
    for start in range(0, len(messages), SMALL):
        publish(broker, messages[start : start + SMALL])
        steps(subscriber, 1)


def test_a_batch_slow_to_publish_does_not_hold_the_batches_after_it(tmp_path: Path) -> None:
    broker, settings = make_broker(), stream_settings(tmp_path)
    messages = image_messages(3 * SMALL)
    release = held_publishes(broker, messages[0].key)
    with subscriber_on(broker, settings) as (subscriber, _):
        stepping = threading.Thread(target=stream_steps, args=(subscriber, broker, messages))
        stepping.start()
        stepping.join(5)
        held_back = stepping.is_alive()
        files = wait_for_files(tmp_path, len(messages))
        release.set()
        stepping.join()
        assert not held_back, "the next batches waited for the first one's publish"
        assert files == len(messages), "the later batches' files waited for the broker"
        assert broker.committed() == {} and logged_ids(settings) == []
        assert subscriber.step(threading.Event()) == 0  # idle: all three commit together
        assert broker.committed() == {0: len(messages)}
        assert broker.committed_transactions == 1
    assert_each_recorded_once(broker, settings, messages)


def test_behind_a_backlog_each_batch_waits_for_the_one_before(tmp_path: Path) -> None:
    """So that batches fill in a burst: not waiting made bursts slower."""
    broker, settings = make_broker(), settings_in(tmp_path, NEVER)
    messages = image_messages(2 * BATCH)
    publish(broker, messages)
    release = held_publishes(broker, messages[0].key)
    with subscriber_on(broker, settings) as (subscriber, _):
        stepping = threading.Thread(target=steps, args=(subscriber, 2))
        stepping.start()
        stepping.join(0.5)
        waited = stepping.is_alive()
        release.set()
        stepping.join()
        assert waited, "the second full batch did not wait for the first one's publish"
    assert sorted(prediction_ids(broker)) == keys(messages)


def test_a_batch_not_wholly_done_aborts_the_batches_publishing_after_it(tmp_path: Path) -> None:
    broker, settings = make_broker(), stream_settings(tmp_path)
    messages = image_messages(3 * SMALL)
    refused = messages[1].key  # in the first batch, which is still publishing
    refuse_once(broker, refused)
    release = held_publishes(broker, messages[0].key)
    with subscriber_on(broker, settings) as (subscriber, _):
        stream_steps(subscriber, broker, messages)  # the later batches publish behind it
        release.set()
        assert subscriber.step(threading.Event()) == 0  # the first settles: not done
        assert broker.aborted_transactions == 1 and broker.committed() == {}
        aborted = {m.key for m in broker.aborted(broker.topics.predictions_topic)}
        assert set(keys(messages[SMALL:])) <= aborted, "the later batches were kept"
        step_until_done(subscriber, broker)
    assert_each_recorded_once(broker, settings, messages)


def wait_for_files(folder: Path, count: int) -> int:
    """How many output files `folder` has once it has `count`, or after 5 s."""
    deadline = time.monotonic() + 5
    while len(list(folder.glob("*.png"))) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(list(folder.glob("*.png")))
