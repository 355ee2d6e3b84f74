"""What the page shows, gathered once per interval: the processes' metrics endpoints
scraped, their readiness asked, the topics' latest messages read, the rejected folder
listed. Everything the processes say is untrusted: it is checked and shortened here."""

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from fashion_pubsub.dashboard.feeds import Feed, FeedMessage
from fashion_pubsub.dashboard.scrape import Scrape, scrape
from fashion_pubsub.dashboard.timeline import PREDICTED, PUBLISHED, Timeline
from fashion_pubsub.settings import DashboardSettings

_ROLES = {
    "fashion_publisher_": "publisher",
    "fashion_subscriber_": "subscriber",
    "fashion_serving_": "model server",
}
_SHOWN = 24
_TEXT = 300
_REJECTED = "fashion_publisher_images_rejected_total"
_DEAD_LETTERED = "fashion_subscriber_messages_dead_lettered_total"
_LAG = "fashion_subscriber_consumer_lag_messages"
_MODEL_INFO = "fashion_subscriber_model_version_info"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


class Monitor:
    """Collects one snapshot of the pipeline per call.

    Args:
        settings: the endpoints to scrape and the folders to read.
        predictions: the predictions topic's feed.
        dead_letters: the dead-letter topic's feed.
    """

    def __init__(self, settings: DashboardSettings, predictions: Feed, dead_letters: Feed) -> None:
        self._settings = settings
        self._predictions = predictions
        self._dead_letters = dead_letters
        self._timeline = Timeline()
        self._roles: dict[str, str] = {}
        self._http = httpx.Client(timeout=httpx.Timeout(2.0))

    def close(self) -> None:
        self._http.close()
        self._predictions.close()
        self._dead_letters.close()

    def collect(self) -> dict[str, Any]:
        """One snapshot, as JSON-ready values."""
        now = time.time()
        scrapes = [scrape(self._http, url) for url in self._settings.metrics_urls]
        self._timeline.add(now, scrapes)
        self._predictions.poll()
        self._dead_letters.poll()
        processes = [self._process(s) for s in scrapes]
        role_of = {p["url"]: p["role"] for p in processes}
        up = [s for s in scrapes if s.up]
        subscribers = [s for s in up if role_of[s.url] == "subscriber"]
        publishers = [s for s in up if role_of[s.url] == "publisher"]
        servers = [s for s in scrapes if role_of[s.url] == "model server"]
        return {
            "time": now,
            "processes": processes,
            "totals": _totals(publishers, subscribers),
            "classes": _summed(subscribers, PREDICTED, "class_name"),
            "rejected_by_reason": _summed(publishers, _REJECTED, "reason"),
            "dead_lettered_by_reason": _summed(subscribers, _DEAD_LETTERED, "reason"),
            "lag": _lag(publishers, subscribers),
            "model": _model(servers, subscribers),
            "timeline": self._timeline.as_json(),
            "gallery": [self._prediction(m) for m in reversed(self._predictions.latest)][:_SHOWN],
            "dead_letters": [_dead_letter(m) for m in reversed(self._dead_letters.latest)][:_SHOWN],
            "rejects": _rejects(self._settings.rejected_dir),
        }

    def _process(self, result: Scrape) -> dict[str, Any]:
        role = next((r for prefix, r in _ROLES.items() if result.has(prefix)), None)
        if role is not None:
            self._roles[result.url] = role
        role = self._roles.get(result.url) or _role_from_url(result.url)
        view: dict[str, Any] = {"url": result.url, "role": role, "up": result.up}
        if result.error:
            view["error"] = result.error[:_TEXT]
        if result.up and role in ("publisher", "subscriber"):
            view["ready"] = self._ready(result.url)
        return view

    def _ready(self, metrics_url: str) -> bool:
        try:
            url = metrics_url.rsplit("/metrics", 1)[0] + "/readyz"
            return self._http.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    def _prediction(self, message: FeedMessage) -> dict[str, Any]:
        try:
            record = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return {"error": "not a JSON record", "position": message.position}
        if not isinstance(record, dict):
            return {"error": "not a JSON object", "position": message.position}
        output = str(record.get("output_file", ""))
        predicted, true = record.get("predicted_label"), record.get("true_label")
        latency = record.get("latency_ms")
        return {
            "image_id": str(record.get("image_id", ""))[:64],
            "source_file": str(record.get("source_file", ""))[:_TEXT],
            "predicted_class": str(record.get("predicted_class", "?"))[:64],
            "confidence": _number(record.get("confidence")),
            "true_label": true if isinstance(true, int) else None,
            "mistake": isinstance(true, int) and isinstance(predicted, int) and true != predicted,
            "model_version": str(record.get("model_version", ""))[:32],
            "trace_id": _trace_id(record.get("trace_id")),
            "latency_ms": _number(latency.get("end_to_end")) if isinstance(latency, dict) else None,
            "image": self._image_url(output),
        }

    def _image_url(self, output_file: str) -> str | None:
        if self._settings.images_dir is None or not output_file or "/" in output_file:
            return None
        return f"/images/{quote(output_file)}"


def _role_from_url(url: str) -> str:
    return "model server" if "/monitoring/prometheus" in url else "unknown"


def _trace_id(value: object) -> str | None:
    return value if isinstance(value, str) and _TRACE_ID.fullmatch(value) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _summed(scrapes: list[Scrape], name: str, label: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for result in scrapes:
        for key, value in result.by_label(name, label).items():
            values[key] = values.get(key, 0.0) + value
    return values


def _totals(publishers: list[Scrape], subscribers: list[Scrape]) -> dict[str, float]:
    def total(scrapes: list[Scrape], name: str) -> float:
        return sum(s.total(name) for s in scrapes)

    return {
        "published": total(publishers, PUBLISHED),
        "rejected": total(publishers, _REJECTED),
        "predicted": total(subscribers, PREDICTED),
        "duplicates": total(subscribers, "fashion_subscriber_duplicates_skipped_total"),
        "dead_lettered": total(subscribers, _DEAD_LETTERED),
        "retries": total(subscribers, "fashion_subscriber_predict_retries_total")
        + total(publishers, "fashion_publisher_publish_retries_total"),
    }


def _lag(publishers: list[Scrape], subscribers: list[Scrape]) -> dict[str, Any]:
    """Kafka: the group's lag per partition (every subscriber reports the same group's, so
    the largest figure is taken). Pub/Sub: an estimate, published minus handled."""
    partitions: dict[str, float] = {}
    for result in subscribers:
        for (name, labels), value in result.samples.items():
            if name == _LAG:
                key = f"{dict(labels).get('topic', '')}[{dict(labels).get('partition', '?')}]"
                partitions[key] = max(partitions.get(key, 0.0), value)
    if partitions:
        return {"kind": "consumer lag", "partitions": partitions}
    if publishers and subscribers:
        totals = _totals(publishers, subscribers)
        handled = totals["predicted"] + totals["dead_lettered"]
        return {
            "kind": "estimate: published minus handled",
            "partitions": {"all": max(totals["published"] - handled, 0.0)},
        }
    return {"kind": "unknown", "partitions": {}}


def _model(servers: list[Scrape], subscribers: list[Scrape]) -> dict[str, Any]:
    loaded = sorted(
        {
            f"{dict(labels).get('model')} v{dict(labels).get('version')}"
            for s in servers
            for (name, labels), value in s.samples.items()
            if name == "fashion_serving_version_loaded" and value > 0
        }
    )
    in_use = sorted({v for s in subscribers for v in s.by_label(_MODEL_INFO, "version")})
    if not servers:
        state = "not scraped"
    else:
        state = "up" if all(s.up for s in servers) else "down"
    return {"state": state, "loaded": loaded, "in_use": in_use}


def _dead_letter(message: FeedMessage) -> dict[str, Any]:
    attributes = message.attributes
    return {
        "reason": attributes.get("dead_letter_reason", "(no reason given)")[:_TEXT],
        "source_file": attributes.get("source_file", "")[:_TEXT],
        "position": attributes.get("original_position", message.position)[:_TEXT],
        "bytes": len(message.payload),
    }


def _rejects(folder: Path | None) -> list[dict[str, str]]:
    """The latest files the publisher rejected, with their `.reason` notes."""
    if folder is None:
        return []
    notes = []
    for path in folder.glob("*.reason"):
        try:
            notes.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    shown = []
    for _, path in sorted(notes, reverse=True)[:_SHOWN]:
        try:
            reason = path.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            continue
        shown.append({"file": path.name.removesuffix(".reason"), "reason": reason[:_TEXT]})
    return shown
