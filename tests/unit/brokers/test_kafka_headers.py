"""Kafka headers become attributes, or the message's defect: never an exception."""

from confluent_kafka import Message as KafkaRecord
from hypothesis import given
from hypothesis import strategies as st

from fashion_pubsub.brokers.kafka import headers_to_attributes


def record(headers: list[tuple[str, bytes | None]]) -> KafkaRecord:
    return KafkaRecord(topic="t", partition=0, offset=1, value=b"x", headers=headers)


def test_utf8_headers_are_attributes() -> None:
    attributes, defect = headers_to_attributes(record([("true_label", b"3")]))
    assert attributes == {"true_label": "3"} and defect is None


def test_non_utf8_value_is_a_defect_with_a_readable_rendering() -> None:
    attributes, defect = headers_to_attributes(record([("source_file", b"caf\xe9.png")]))
    assert defect == "header 'source_file' is not UTF-8"
    assert attributes["source_file"] == "caf\\xe9.png"


def test_repeated_and_null_headers_are_defects() -> None:
    _, repeated = headers_to_attributes(record([("schema", b"1"), ("schema", b"2")]))
    _, null = headers_to_attributes(record([("true_label", None)]))
    assert repeated == "header 'schema' appears more than once"
    assert null == "header 'true_label' has no value"


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8).filter(lambda s: "\x00" not in s),
            st.one_of(st.none(), st.binary(max_size=20)),
        ),
        max_size=8,
    )
)
def test_any_headers_give_text_attributes_or_a_defect(
    headers: list[tuple[str, bytes | None]],
) -> None:
    attributes, defect = headers_to_attributes(record(headers))
    assert all(isinstance(v, str) for v in attributes.values())
    names = [name for name, _ in headers]
    clean = len(set(names)) == len(names) and all(v is not None for _, v in headers)
    if defect is None:
        assert clean
