"""Settings that other processes receive through their environment."""

import pytest

from fashion_pubsub.settings import TopicSettings


def test_a_child_process_reads_back_the_run_topics_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topics = TopicSettings.for_run("demo")
    for name, value in topics.as_environment().items():
        monkeypatch.setenv(name, value)
    assert TopicSettings() == topics


def test_every_run_gets_names_of_its_own() -> None:
    first, second = TopicSettings.for_run("bench"), TopicSettings.for_run("bench")
    names = [*first.topic_names, first.subscription, first.consumer_group]
    assert all(name.startswith("bench-") for name in names)
    assert not set(names) & {*second.topic_names, second.subscription, second.consumer_group}
