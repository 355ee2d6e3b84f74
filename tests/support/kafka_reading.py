"""Reading a whole Kafka topic as a downstream consumer would, with a chosen isolation level."""

import time
import uuid
from typing import Literal

from confluent_kafka import Consumer

Isolation = Literal["read_committed", "read_uncommitted"]


def read_topic(
    bootstrap: str,
    topic: str,
    isolation: Isolation = "read_committed",
    at_least: int = 0,
    patience: float = 120.0,
    idle: float = 3.0,
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of every record of `topic` a fresh consumer group sees: waits until
    `at_least` came (or `patience` ran out), then until nothing more comes for `idle`
    seconds, so records beyond the expected are seen too."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    consumer.subscribe([topic])
    records: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + patience
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            for message in batch:
                if message.error() is None:
                    records.append((message.key(), message.value() or b""))
            if batch:
                last = time.monotonic()
            elif len(records) >= at_least and time.monotonic() - last > idle:
                break
    finally:
        consumer.close()
    return records
