"""What the processes and topics say is untrusted: the page gets checked, bounded values,
and the image route never leaves its folder."""

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from fashion_pubsub.dashboard.app import build_app
from fashion_pubsub.dashboard.feeds import Feed, FeedMessage
from fashion_pubsub.dashboard.monitor import Monitor
from fashion_pubsub.settings import DashboardSettings


class ListFeed(Feed):
    """A feed of fixed messages (the real ones need a broker: see the integration tests)."""

    def __init__(self, messages: list[FeedMessage]) -> None:
        super().__init__("topic", keep=24)
        self._messages = messages

    def _fetch(self) -> list[FeedMessage]:
        fresh, self._messages = self._messages, []
        return fresh

    def close(self) -> None:
        pass


def message(payload: bytes, **attributes: str) -> FeedMessage:
    return FeedMessage(payload, attributes, "t[0]@1")


def test_bad_records_and_dead_letters_become_short_plain_entries(tmp_path: Path) -> None:
    good = {
        "image_id": "a" * 32,
        "output_file": "7-Bag.png",
        "predicted_class": "Bag",
        "predicted_label": 8,
        "true_label": 3,
        "confidence": 0.5,
        "latency_ms": {"end_to_end": 12.5},
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
    predictions = ListFeed(
        [
            message(orjson.dumps(good)),
            message(b"\xff not json"),
            message(b"[1, 2]"),
            message(orjson.dumps({**good, "output_file": "../../etc/passwd", "trace_id": "<b>"})),
        ]
    )
    dead = ListFeed([message(b"x", dead_letter_reason="r" * 5000), message(b"")])
    settings = DashboardSettings(metrics_urls=(), images_dir=tmp_path, rejected_dir=tmp_path)
    snapshot = Monitor(settings, predictions, dead).collect()
    escaped, not_object, not_json, first = snapshot["gallery"]
    assert first["image"] == "/images/7-Bag.png" and first["mistake"] is True
    assert first["trace_id"] == good["trace_id"]
    assert (escaped["image"], escaped["trace_id"]) == (None, None)
    assert not_json == {"error": "not a JSON record", "position": "t[0]@1"}
    assert not_object["error"] == "not a JSON object"
    missing, long = snapshot["dead_letters"]
    assert missing["reason"] == "(no reason given)"
    assert len(long["reason"]) == 300


@pytest.mark.parametrize("name", ["../secret.png", "..%2Fsecret.png", ".hidden.png", "a.txt"])
def test_images_are_only_pngs_inside_the_folder(tmp_path: Path, name: str) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "1-Bag.png").write_bytes(b"png")
    (images / ".hidden.png").write_bytes(b"png")
    (images / "a.txt").write_bytes(b"text")
    (tmp_path / "secret.png").write_bytes(b"secret")
    app = build_app(DashboardSettings(images_dir=images), monitor=lambda: pytest.fail())

    async def get(*paths: str) -> list[httpx.Response]:
        # No lifespan through this transport: these routes need no monitor.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
            return [await client.get(path) for path in paths]

    good, bad, outside = asyncio.run(get("/images/1-Bag.png", f"/images/{name}", "/static/x.py"))
    assert good.content == b"png"
    assert (bad.status_code, outside.status_code) == (404, 404)
