"""A log line is one line: values from outside cannot forge another."""

import logging

import pytest

from fashion_pubsub.logs import configure_logging, log_each_at_debug, log_event


@pytest.mark.parametrize(
    "name",
    [
        "a.png\r2026-01-01T00:00:00 INFO forged event",
        "b.png\n2026-01-01T00:00:00 INFO forged event",
        "c\x1b[2Kd.png",
        "e\u2028f.png",
        "caf\udce9.png",  # a name that is not UTF-8, as Python reads it
    ],
)
def test_values_with_control_characters_stay_on_one_line(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    logger = logging.getLogger("fashion_pubsub.test")
    log_event(logger, "rejected", logging.WARNING, file=name, reason="empty")
    logger.warning("unexpected_file_error file=%s", name)
    lines = capsys.readouterr().err.encode("utf-8", "surrogateescape").decode().splitlines()
    assert len(lines) == 2
    assert all(line.count(" WARNING ") == 1 for line in lines)
    assert not any(c in lines[0] + lines[1] for c in "\r\x1b\u2028\udce9")
    assert "reason=empty" in lines[0]


def test_plain_values_stay_plain(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    log_event(logging.getLogger("fashion_pubsub.test"), "published", file="3.png", n=2)
    assert capsys.readouterr().err.rstrip().endswith("published file=3.png n=2")


def test_per_item_debug_lines_cost_nothing_unless_debug_is_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("fashion_pubsub.test_each")
    built: list[int] = []

    def fields(item: int) -> dict[str, object]:
        built.append(item)
        return {"image": item}

    with caplog.at_level(logging.INFO, logger.name):
        log_each_at_debug(logger, "image_seen", [1, 2], fields)
    assert built == [] and caplog.records == []
    with caplog.at_level(logging.DEBUG, logger.name):
        log_each_at_debug(logger, "image_seen", [1, 2], fields)
    assert [(r.getMessage(), r.fields) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("image_seen", {"image": 1}),
        ("image_seen", {"image": 2}),
    ]
