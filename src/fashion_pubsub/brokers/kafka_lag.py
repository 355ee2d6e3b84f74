"""The consumer group's lag on the input topic: per partition, the high watermark minus
the group's committed offset (from the start of the log when nothing is committed).

It uses a client of its own that never joins the group (OffsetFetch and ListOffsets
only), so reading the lag never triggers a rebalance, and any process can read it.
Offsets are committed once a second (brokers/kafka.py), so the figure trails by that.
"""

from confluent_kafka import Consumer as _Consumer
from confluent_kafka import KafkaException, TopicPartition

from fashion_pubsub.brokers.base import LagReader, PartitionLag
from fashion_pubsub.brokers.errors import BrokerError
from fashion_pubsub.settings import KafkaSettings, TopicSettings

_TIMEOUT_SECONDS = 5.0


class KafkaLagReader(LagReader):
    """Reads committed offsets and watermarks of the input topic.

    Args:
        settings: how to reach Kafka.
        topics: the input topic and the consumer group.
    """

    def __init__(self, settings: KafkaSettings, topics: TopicSettings) -> None:
        self._settings = settings
        self._topic = topics.input_topic
        self._group = topics.consumer_group
        self._client: _Consumer | None = None

    def _consumer(self) -> _Consumer:
        if self._client is None:
            self._client = _Consumer(
                {
                    **self._settings.as_librdkafka(),
                    "group.id": self._group,
                    "enable.auto.commit": False,
                }
            )
        return self._client

    def read(self) -> list[PartitionLag]:
        client = self._consumer()
        try:
            metadata = client.list_topics(self._topic, timeout=_TIMEOUT_SECONDS).topics[self._topic]
            if metadata.error is not None:
                return []
            partitions = [TopicPartition(self._topic, p) for p in sorted(metadata.partitions)]
            committed = client.committed(partitions, timeout=_TIMEOUT_SECONDS)
            return [self._lag(client, tp) for tp in committed]
        except KafkaException as exc:
            raise BrokerError(f"reading the consumer lag of {self._topic} failed: {exc}") from exc

    def _lag(self, client: _Consumer, committed: TopicPartition) -> PartitionLag:
        low, high = client.get_watermark_offsets(
            TopicPartition(self._topic, committed.partition), timeout=_TIMEOUT_SECONDS, cached=False
        )
        start = committed.offset if committed.offset >= 0 else low  # negative: none committed
        return PartitionLag(self._topic, committed.partition, self._group, max(high - start, 0))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
