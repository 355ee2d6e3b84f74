"""`decode` is the one boundary for a message: typed values or WireFormatError, nothing else."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fashion_pubsub.brokers.base import Message
from fashion_pubsub.pipeline.errors import WireFormatError
from fashion_pubsub.pipeline.wire import decode, encode

PIXELS = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28)
GOOD = encode(PIXELS, "7.png", 3, seen_at=1795556011.123456, published_at=1795556011.5)


def received(
    attributes: dict[str, str], payload: bytes = GOOD.payload, defect: str | None = None
) -> Message:
    return Message(payload, attributes, None, 1, "test[0]@0", None, defect)


def with_attribute(key: str, value: str) -> Message:
    return received({**GOOD.attributes, key: value})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("true_label", "²", "true_label"),  # int("²") raised ValueError in the batch loop
        ("true_label", "٣", "true_label"),
        ("true_label", "9" * 5000, "true_label"),
        ("true_label", " 3", "true_label"),
        ("true_label", "", "true_label"),
        ("seen_at", "nan", "seen_at"),
        ("seen_at", "inf", "seen_at"),
        ("seen_at", "1e999", "seen_at"),
        ("seen_at", "-5", "seen_at"),
        ("published_at", "1" * 5000, "published_at"),
        ("published_at", "١٢", "published_at"),
        ("arrived_at", "nan", "arrived_at"),  # optional, but never anything but a time
        ("arrived_at", "", "arrived_at"),
        ("image_id", "../../../../tmp/x", "image_id"),
        ("image_id", "4F1C" * 8, "image_id"),
        ("image_id", "0" * 31, "image_id"),
        ("image_id", "0" * 32 + "\n", "image_id"),
        ("source_file", "x" * 5000, "source_file"),
        ("source_file", "caf\udce9.png", "source_file"),
    ],
)
def test_hostile_values_are_dead_letter_reasons(key: str, value: str, reason: str) -> None:
    with pytest.raises(WireFormatError, match=reason) as caught:
        decode(with_attribute(key, value))
    assert len(caught.value.reason) < 300  # a 5,000-digit value is not copied whole


@pytest.mark.parametrize("key", ["seen_at", "published_at"])
def test_times_are_required(key: str) -> None:
    attributes = dict(GOOD.attributes)
    del attributes[key]
    with pytest.raises(WireFormatError, match=key):
        decode(received(attributes))


def test_a_broker_defect_is_the_reason() -> None:
    with pytest.raises(WireFormatError, match="not UTF-8"):
        decode(received(dict(GOOD.attributes), defect="header 'true_label' is not UTF-8"))


def test_valid_message_decodes_to_typed_values() -> None:
    image = decode(received(dict(GOOD.attributes)))
    assert (image.true_label, image.source_file) == (3, "7.png")
    assert image.seen_at == pytest.approx(1795556011.123456) and math.isfinite(image.seen_at)
    assert image.image_id == GOOD.key and np.array_equal(image.pixels, PIXELS)


hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["²", "nan", "-inf", "1e999", "9" * 5000, "0x1f", "\x00", "\udce9"]),
)
attribute_maps = st.dictionaries(
    st.sampled_from([*GOOD.attributes, "true_label", "key", "other"]), hostile_text, max_size=10
)


@settings(max_examples=300, deadline=None)
@given(
    changes=attribute_maps,
    drop=st.sets(st.sampled_from(list(GOOD.attributes))),
    payload=st.one_of(st.binary(max_size=800), st.just(GOOD.payload)),
)
def test_nothing_but_wire_format_errors_escape(
    changes: dict[str, str], drop: set[str], payload: bytes
) -> None:
    attributes = {k: v for k, v in GOOD.attributes.items() if k not in drop} | changes
    try:
        image = decode(received(attributes, payload))
    except WireFormatError as exc:
        assert exc.reason
        return
    assert len(image.image_id) == 32 and int(image.image_id, 16) >= 0
    assert image.true_label is None or 0 <= image.true_label <= 9
    assert math.isfinite(image.seen_at) and math.isfinite(image.published_at)
    assert image.pixels.shape == (28, 28)
