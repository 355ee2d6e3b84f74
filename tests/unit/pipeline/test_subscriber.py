"""The subscriber's decisions, on the in-memory broker with a fake model server: one
message's failure stays that message's, attempts are bounded, an outage never
dead-letters a valid image, an image gets one record, a rebalance loses nothing."""

import errno
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fashion_pubsub.brokers.base import OutgoingMessage
from fashion_pubsub.serving.errors import ServingRequestError, ServingUnavailableError
from tests.support.subscriber_rig import Rig, image, valid

FLAVOURS = ["kafka", "pubsub"]


@pytest.fixture(params=FLAVOURS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, flavour=request.param)
    yield rig
    rig.close()


def sources(rig: Rig) -> list[str]:
    return sorted(str(r["source_file"]) for r in rig.records())


def names(count: int) -> list[str]:
    return sorted(f"{n}.png" for n in range(count))


def test_valid_images_get_one_record_output_and_prediction_each(rig: Rig) -> None:
    rig.publish(*(valid(n) for n in range(5)))
    rig.run()
    assert sources(rig) == names(5)
    assert sorted(p.name for p in rig.settings.output_dir.glob("*.png")) == [
        f"{n}-{c}.png"
        for n, c in enumerate(["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat"])
    ]
    assert len(rig.predictions()) == 5 and rig.dead_letters() == []


def test_undecodable_message_is_dead_lettered_with_its_reason_at_once(rig: Rig) -> None:
    label = valid(1)
    poison = OutgoingMessage(label.key, label.payload, {**label.attributes, "true_label": "²"})
    rig.publish(valid(0), poison, valid(2))
    rig.run()
    assert sources(rig) == ["0.png", "2.png"]
    [dead] = rig.dead_letters()
    assert "true_label '²' is not a class 0-9" == dead.attributes["dead_letter_reason"]
    assert dead.payload == poison.payload


def fail_writing(monkeypatch: pytest.MonkeyPatch, poisoned: str) -> list[str]:
    """Make writing the output of `poisoned` raise, as an unforeseen per-image failure;
    returns the names whose output was attempted."""
    from fashion_pubsub.pipeline import recorder

    attempted: list[str] = []
    real = recorder.write_output

    def write_output(folder: Path, source: str, *args: object) -> Path:
        attempted.append(source)
        if source == poisoned:
            raise RuntimeError(f"cannot write {source}")
        return real(folder, source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(recorder, "write_output", write_output)
    return attempted


def test_a_failing_image_is_isolated_and_the_others_recorded_at_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writing(monkeypatch, "5.png")
    rig.publish(*(valid(n) for n in range(16)))
    rig.subscriber.step(rig.stop)  # one batch: split until the culprit is alone
    rig.subscriber.step(rig.stop)  # settles it
    assert sources(rig) == sorted(set(names(16)) - {"5.png"})
    assert rig.dead_letters() == []  # one failure is not yet the limit


def test_a_message_failing_alone_is_dead_lettered_after_max_attempts_with_the_last_error(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_writing(monkeypatch, "5.png")
    rig.publish(*(valid(n) for n in range(8)))
    rig.run()
    assert sources(rig) == sorted(set(names(8)) - {"5.png"})
    [dead] = rig.dead_letters()
    reason = dead.attributes["dead_letter_reason"]
    assert reason == "failed 3 times, last: RuntimeError: cannot write 5.png"
    assert rig.stats.dead_lettered == 1 and rig.stats.predicted == 7


def test_kafka_a_poison_message_does_not_stall_its_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, flavour="kafka", settings_changes={"batch_size": 4})
    fail_writing(monkeypatch, "0.png")
    rig.publish(valid(0), valid(1))
    rig.publish(valid(2))  # one partition: all after the poison, in order
    rig.run()
    assert sources(rig) == ["1.png", "2.png"]
    assert rig.broker.committed() == {0: 3}
    rig.close()


def test_a_classify_error_nobody_foresaw_is_isolated_too(rig: Rig) -> None:
    poisoned = image(3)
    rig.client.error_for = lambda i: ValueError("boom") if np.array_equal(i, poisoned) else None
    rig.publish(*(valid(n) for n in range(6)))
    rig.run()
    assert sources(rig) == sorted(set(names(6)) - {"3.png"})
    [dead] = rig.dead_letters()
    assert dead.attributes["dead_letter_reason"] == "failed 3 times, last: ValueError: boom"


def test_an_oversized_batch_refused_with_413_is_split_not_dead_lettered(rig: Rig) -> None:
    rig.client.max_batch = 3
    rig.publish(*(valid(n) for n in range(10)))
    rig.run()
    assert sources(rig) == names(10)
    assert rig.dead_letters() == []
    assert rig.client.batches[0] == 10 and max(rig.client.batches[1:]) <= 5


def test_one_image_the_server_refuses_is_dead_lettered_alone(rig: Rig) -> None:
    refused = image(4)
    rig.client.error_for = lambda i: (
        ServingRequestError("answered 400: bad") if np.array_equal(i, refused) else None
    )
    rig.publish(*(valid(n) for n in range(8)))
    rig.run()
    assert sources(rig) == sorted(set(names(8)) - {"4.png"})
    [dead] = rig.dead_letters()
    assert dead.attributes["dead_letter_reason"] == (
        "model server refused the image: answered 400: bad"
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_long_outage_never_dead_letters_a_valid_image(
    tmp_path: Path, flavour: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Far more than five holds, on a subscription with a five-attempt dead-letter policy.
    rig = Rig(tmp_path, flavour=flavour, broker_options={"max_delivery_attempts": 5})
    rig.client.script = [ServingUnavailableError("down")] * 40
    rig.publish(*(valid(n) for n in range(4)))
    rig.run()
    assert sources(rig) == names(4)
    assert rig.dead_letters() == []
    assert rig.stats.retries == 40
    said = [r for r in caplog.records if r.getMessage() == "model_server_unavailable"]
    assert said and said[0].fields["held_seconds"] == 0  # type: ignore[attr-defined]
    if flavour == "kafka":
        assert rig.consumer.extensions >= 40  # type: ignore[attr-defined]  # partitions paused
    rig.close()


def test_stopping_during_an_outage_gives_the_batch_back_unprocessed(rig: Rig) -> None:
    rig.client.unavailable = True
    rig.publish(valid(0))
    rig.stop.set()
    rig.subscriber.step(rig.stop)
    rig.subscriber.step(rig.stop)
    assert rig.broker.unfinished() == 1 and rig.records() == [] and rig.dead_letters() == []


def test_the_same_image_twice_in_one_batch_gets_one_record(rig: Rig) -> None:
    rig.publish(valid(0), valid(1), valid(0))
    rig.run()
    assert sources(rig) == ["0.png", "1.png"]
    assert len(rig.predictions()) == 2 and rig.stats.duplicates == 1


def test_an_image_seen_again_in_a_later_batch_gets_no_second_record(rig: Rig) -> None:
    rig.publish(valid(0))
    rig.run()
    rig.publish(valid(0), valid(1))
    rig.run()
    assert sources(rig) == ["0.png", "1.png"]
    assert rig.stats.duplicates == 1


def test_a_restarted_subscriber_recognises_recorded_images(rig: Rig) -> None:
    rig.publish(valid(0))
    rig.run()
    rig.close()
    rig.subscriber = rig.subscriber_on(rig.consumer)
    rig.publish(valid(0))
    rig.run()
    assert sources(rig) == ["0.png"]


def test_copies_share_the_fate_of_their_image(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_writing(monkeypatch, "0.png")
    rig.publish(valid(0), valid(0), valid(1))
    rig.run()
    assert sources(rig) == ["1.png"]
    assert len(rig.dead_letters()) == 2
    assert {m.attributes["dead_letter_reason"] for m in rig.dead_letters()} == {
        "failed 3 times, last: RuntimeError: cannot write 0.png"
    }


def test_predictions_refused_for_one_image_fail_only_that_image(rig: Rig) -> None:
    topic = rig.broker.topics.predictions_topic
    rig.broker.fail_publishes(topic, "MSG_SIZE_TOO_LARGE", when=lambda m: b'"2.png"' in m.payload)
    rig.publish(*(valid(n) for n in range(4)))
    rig.run()
    assert sources(rig) == ["0.png", "1.png", "3.png"]
    [dead] = rig.dead_letters()
    assert "prediction not published: MSG_SIZE_TOO_LARGE" in dead.attributes["dead_letter_reason"]


def test_a_broker_refusing_every_prediction_is_waited_for_not_counted(rig: Rig) -> None:
    topic = rig.broker.topics.predictions_topic
    rig.broker.fail_publishes(topic, "broker down", times=4 * 3)  # 3 whole batches
    rig.publish(*(valid(n) for n in range(4)))
    rig.run()
    assert sources(rig) == names(4) and rig.dead_letters() == []


def test_kafka_revocation_waits_for_the_batch_being_written(tmp_path: Path) -> None:
    rig = Rig(tmp_path, flavour="kafka", partitions=2)
    rig.publish(valid(0), valid(1))  # partition 1
    rig.publish(valid(2), valid(3))  # partition 0
    release = threading.Event()
    rig.broker.on_publish(
        lambda topic, _: topic == rig.broker.topics.predictions_topic and release.wait(10)
    )
    rig.subscriber.step(rig.stop)  # all four classified; the writer waits in the publish
    newcomer = rig.broker.consumer()  # joins: partition 1 is to move to it
    threading.Timer(0.2, release.set).start()
    rig.subscriber.step(rig.stop)  # serves the revocation
    assert rig.broker.committed() == {0: 2, 1: 2}
    assert newcomer.receive(10, 0) == []  # nothing of partition 1 comes again
    assert sources(rig) == names(4)
    rig.close()


def test_a_dead_letter_publish_that_raises_gives_the_message_back(rig: Rig) -> None:
    failures = [RuntimeError("producer closed")]

    def hook(topic: str, _: OutgoingMessage) -> None:
        if topic == rig.broker.topics.dead_letter_topic and failures:
            raise failures.pop()

    rig.broker.on_publish(hook)
    bad = OutgoingMessage(valid(1).key, b"short", dict(valid(1).attributes))
    rig.publish(valid(0), bad)
    rig.run()
    assert sources(rig) == ["0.png"]
    [dead] = rig.dead_letters()
    assert "body has 5 bytes" in dead.attributes["dead_letter_reason"]


def test_kafka_a_full_disk_is_waited_out_without_counting_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kafka only: on Pub/Sub every give-back also counts towards the subscription's
    # dead-letter policy, a known limit for failures that last (docs/pipeline.md).
    from fashion_pubsub.pipeline import recorder

    rig = Rig(tmp_path, flavour="kafka")

    real, failures = recorder.write_output, [0]

    def write_output(*args: object) -> Path:
        if failures[0] < 30:  # several whole rounds: more than max_attempts
            failures[0] += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(recorder, "write_output", write_output)
    rig.publish(*(valid(n) for n in range(3)))
    rig.run()
    assert sources(rig) == names(3) and rig.dead_letters() == []
    rig.close()
