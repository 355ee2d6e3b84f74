"""Exactly-once mode of the subscriber on the in-memory broker's Kafka-like transactions:
each batch's predictions, dead letters and offsets commit together or not at all."""

import threading
import time
from pathlib import Path

import orjson
import pytest

from fashion_pubsub.brokers.errors import TransactionFencedError
from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.brokers.transactions import TransactionalSession
from fashion_pubsub.errors import ConfigurationError
from fashion_pubsub.pipeline.journal import CommitJournal
from fashion_pubsub.pipeline.service import delivery_of
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.subscriber import Channels, ImageSubscriber
from fashion_pubsub.settings import SubscriberSettings, TopicSettings
from tests.support.fakes import FakeModelClient
from tests.support.memory_input import image_messages, make_broker, publish


def settings_in(folder: Path) -> SubscriberSettings:
    return SubscriberSettings(output_dir=folder, batch_size=8, max_wait_seconds=0.01)


def session_subscriber(
    broker: MemoryBroker, session: TransactionalSession, settings: SubscriberSettings, stats: Stats
) -> ImageSubscriber:
    """An exactly-once subscriber: its consumer and publishers in `session`."""
    channels = Channels(
        consumer=session.consumer,
        predictions=session.publisher(broker.topics.predictions_topic),
        dead_letters=session.publisher(broker.topics.dead_letter_topic),
        transactions=session,
    )
    return ImageSubscriber(channels, FakeModelClient(), settings, stats)  # type: ignore[arg-type]


def run_until_done(broker: MemoryBroker, settings: SubscriberSettings) -> Stats:
    """One exactly-once subscriber until every input message is committed."""
    stats = Stats()
    with broker.transactional_session("unit") as session:
        subscriber = session_subscriber(broker, session, settings, stats)
        stop = threading.Event()
        thread = threading.Thread(target=subscriber.run, args=(stop,))
        thread.start()
        deadline = time.monotonic() + 20
        while broker.unfinished() and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join()
    return stats


def prediction_ids(broker: MemoryBroker) -> list[str]:
    return [m.attributes["image_id"] for m in broker.messages(broker.topics.predictions_topic)]


def logged_ids(settings: SubscriberSettings) -> list[str]:
    lines = settings.results_path().read_bytes().splitlines()
    return [orjson.loads(line)["image_id"] for line in lines]


def test_every_image_gets_one_committed_prediction_and_one_record(tmp_path: Path) -> None:
    broker, settings = make_broker(2), settings_in(tmp_path)
    messages = image_messages(30)
    publish(broker, messages)
    run_until_done(broker, settings)
    expected = sorted(m.key for m in messages)
    assert sorted(prediction_ids(broker)) == expected
    assert sorted(logged_ids(settings)) == expected
    assert broker.unfinished() == 0 and broker.aborted_transactions == 0
    assert not CommitJournal(settings.results_path().with_suffix(".commit.json")).path.exists()


def test_an_aborted_commit_shows_nothing_and_the_batch_is_done_again_once(
    tmp_path: Path,
) -> None:
    broker, settings = make_broker(2), settings_in(tmp_path)
    messages = image_messages(30)
    publish(broker, messages)
    broker.commit_failures = 2
    run_until_done(broker, settings)
    expected = sorted(m.key for m in messages)
    assert broker.aborted_transactions == 2
    assert broker.aborted(broker.topics.predictions_topic), "the aborts had published"
    assert sorted(prediction_ids(broker)) == expected
    assert sorted(logged_ids(settings)) == expected


def test_a_refused_prediction_aborts_its_whole_batch(tmp_path: Path) -> None:
    broker, settings = make_broker(partitions=1), settings_in(tmp_path)
    messages = image_messages(8)
    publish(broker, messages)
    broker.fail_publishes(
        broker.topics.predictions_topic, "refused", when=lambda m: m.key == messages[3].key, times=1
    )
    run_until_done(broker, settings)
    assert broker.aborted_transactions == 1
    assert len(broker.aborted(broker.topics.predictions_topic)) >= 1
    assert sorted(prediction_ids(broker)) == sorted(m.key for m in messages)


def test_copies_of_an_image_get_one_prediction(tmp_path: Path) -> None:
    """A publisher killed after the broker confirmed but before moving the file publishes
    it again: a second message with the same image id, in the same batch or later."""
    broker, settings = make_broker(partitions=1), settings_in(tmp_path)
    messages = image_messages(6)
    publish(broker, messages + messages[:2])  # same batch
    run_until_done(broker, settings)
    publish(broker, messages[2:4])  # a later batch
    run_until_done(broker, settings)
    assert sorted(prediction_ids(broker)) == sorted(m.key for m in messages)
    assert sorted(logged_ids(settings)) == sorted(m.key for m in messages)


def test_a_commit_interrupted_before_logging_is_logged_at_restart(tmp_path: Path) -> None:
    broker, settings = make_broker(partitions=1), settings_in(tmp_path)
    publish(broker, image_messages(4))
    run_until_done(broker, settings)
    records = [orjson.loads(line) for line in settings.results_path().read_bytes().splitlines()]
    # As if killed between the commit and the append: the journal holds the last batch.
    settings.results_path().write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records[:1]))
    journal = CommitJournal(settings.results_path().with_suffix(".commit.json"))
    journal.write(records[1:], ["input-topic[0]@3"])
    run_until_done(broker, settings)
    assert sorted(logged_ids(settings)) == sorted(r["image_id"] for r in records)
    assert not journal.path.exists()


def test_an_uncommitted_journal_is_dropped(tmp_path: Path) -> None:
    broker, settings = make_broker(partitions=1), settings_in(tmp_path)
    journal = CommitJournal(settings.results_path().with_suffix(".commit.json"))
    journal.write([{"image_id": "never-committed"}], ["input-topic[0]@0"])
    publish(broker, image_messages(2))
    run_until_done(broker, settings)
    assert "never-committed" not in logged_ids(settings)
    assert not journal.path.exists()


def test_a_fenced_subscriber_stops_with_the_reason_and_records_nothing(tmp_path: Path) -> None:
    broker, settings = make_broker(partitions=1), settings_in(tmp_path)
    publish(broker, image_messages(4))
    broker.fenced = True
    with broker.transactional_session("unit") as session:
        subscriber = session_subscriber(broker, session, settings, Stats())
        with pytest.raises(TransactionFencedError, match="took over"):
            subscriber.run(threading.Event())
    assert prediction_ids(broker) == [] and logged_ids(settings) == []
    assert broker.unfinished() == 4


def test_delivery_mode_follows_the_broker() -> None:
    kafka_like = MemoryBroker(TopicSettings(), flavour="kafka")
    pubsub_like = MemoryBroker(TopicSettings(), flavour="pubsub")
    assert delivery_of(kafka_like, SubscriberSettings()) == "exactly-once"
    assert delivery_of(pubsub_like, SubscriberSettings()) == "at-least-once"
    assert delivery_of(kafka_like, SubscriberSettings(delivery="at-least-once")) == "at-least-once"
    with pytest.raises(ConfigurationError, match="transactions"):
        delivery_of(pubsub_like, SubscriberSettings(delivery="exactly-once"))
