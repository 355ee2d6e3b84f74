"""The old design's data path, re-created for `bench` to measure against.

What it keeps from the 2021 publisher.py/subscriber.py: the publisher polls the
folder, sends each image as a JSON list of integers and waits for the broker
after every message (Kafka `flush()`, Pub/Sub `future.result()`); the
subscriber takes one message at a time, acknowledges it BEFORE predicting, and
sends one JSON predict request per image. Kafka uses one partition and a
constant key, as before. Only measurement is added: the time the file was seen
travels in a header/attribute, and each result is appended to a JSONL log in
the same record format as the real subscriber's, so both are summarised alike.

Run as processes: `fashion-pubsub baseline publish|subscribe ...` (a hidden command).
"""

import json
import os
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from fashion_pubsub.classes import CLASS_NAMES, safe_class_name
from fashion_pubsub.data.png import read_label

_SEEN = "seen_at"


def publish_kafka(bootstrap: str, topic: str, input_dir: Path, published: Path, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for attributes, body in _poll_folder(input_dir, published, count):
        producer.produce(topic, key="key", value=body, headers=attributes)
        producer.flush()


def publish_pubsub(project: str, topic: str, input_dir: Path, published: Path, count: int) -> None:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic_path = publisher.topic_path(project, topic)
    for attributes, body in _poll_folder(input_dir, published, count):
        publisher.publish(topic_path, body, **attributes).result()


def _poll_folder(input_dir: Path, published: Path, count: int):  # type: ignore[no-untyped-def]
    """The old loop: list the folder again and again; yield (attributes, JSON body)."""
    published.mkdir(parents=True, exist_ok=True)
    done = 0
    while done < count:
        for name in sorted(os.listdir(input_dir)):
            if name.startswith("."):
                continue
            attributes = {_SEEN: str(time.time()), "name": name}
            with Image.open(input_dir / name) as image:
                pixels = np.array(image)
                label = read_label(image)
            if label is not None:
                attributes["true_label"] = str(label)
            yield attributes, json.dumps(pixels.tolist()).encode()
            shutil.move(input_dir / name, published / name)
            done += 1


def subscribe_kafka(bootstrap: str, topic: str, url: str, output: Path, count: int) -> None:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    with httpx.Client(timeout=30.0) as client:
        done = 0
        while done < count:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            consumer.commit(message=message, asynchronous=False)  # acked before predicting
            headers = {  # type: ignore[str-unpack]  # stubs
                k: v.decode() if isinstance(v, bytes) else str(v)
                for k, v in message.headers() or []
            }
            _predict_and_write(client, url, output, message.value() or b"", headers)
            done += 1
    consumer.close()


def subscribe_pubsub(project: str, subscription: str, url: str, output: Path, count: int) -> None:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, subscription)
    with httpx.Client(timeout=30.0) as client:
        done = 0
        while done < count:
            response = subscriber.pull(subscription=path, max_messages=1, timeout=10.0)
            for received in response.received_messages:
                subscriber.acknowledge(subscription=path, ack_ids=[received.ack_id])
                attributes = dict(received.message.attributes)
                _predict_and_write(client, url, output, received.message.data, attributes)
                done += 1


def _predict_and_write(
    client: httpx.Client, url: str, output: Path, body: bytes, headers: dict[str, str]
) -> None:
    pixels = np.array(json.loads(body), dtype=np.uint8)
    answer = client.post(url, json={"instances": [pixels[..., None].tolist()]})
    answer.raise_for_status()
    probabilities = answer.json()["predictions"][0]
    label = int(np.argmax(probabilities))
    name = headers["name"]
    out_name = f"{Path(name).stem}-{safe_class_name(CLASS_NAMES[label])}.png"
    output.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(output / out_name)
    written = time.time()
    record = {
        "image_id": name,
        "source_file": name,
        "output_file": out_name,
        "predicted_label": label,
        "confidence": float(max(probabilities)),
        "true_label": headers.get("true_label"),
        "written_at": written,
        "latency_ms": {"end_to_end": (written - float(headers[_SEEN])) * 1000},
    }
    with (output / "results.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\n")


def run_publisher(
    broker: str,
    topic: str,
    input_dir: Path,
    published: Path,
    count: int,
    bootstrap: str,
    project: str,
) -> None:
    """Publish `count` files of `input_dir` the old way, then return.

    Args:
        broker: "apache-kafka" or "google-pubsub".
        topic: the topic to publish to.
        input_dir: the folder polled for images.
        published: where each image is moved once sent.
        count: how many images to send.
        bootstrap: Kafka's address.
        project: the Pub/Sub project (the emulator's address comes from PUBSUB_EMULATOR_HOST).
    """
    if broker == "apache-kafka":
        publish_kafka(bootstrap, topic, input_dir, published, count)
    else:
        publish_pubsub(project, topic, input_dir, published, count)


def run_subscriber(
    broker: str, source: str, url: str, output: Path, count: int, bootstrap: str, project: str
) -> None:
    """Classify `count` messages the old way, one at a time, then return.

    Args:
        broker: "apache-kafka" or "google-pubsub".
        source: the Kafka topic, or the Pub/Sub subscription.
        url: the model server's TF Serving predict URL.
        output: where the classified images and results.jsonl go.
        count: how many messages to classify.
        bootstrap: Kafka's address.
        project: the Pub/Sub project.
    """
    if broker == "apache-kafka":
        subscribe_kafka(bootstrap, source, url, output, count)
    else:
        subscribe_pubsub(project, source, url, output, count)
