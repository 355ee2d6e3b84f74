"""Which Kafka offsets may be committed when messages are acknowledged out of order.

A partition's committed offset must never pass a message that was handed out but
not yet acknowledged, or a crash would lose it: commit the lowest in-flight
offset, or one past the highest delivered when nothing is in flight.
"""

from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    """In-flight offsets of one partition and how often each was delivered."""

    in_flight: set[int] = field(default_factory=set)
    next_offset: int | None = None
    attempts: dict[int, int] = field(default_factory=dict)
    committed: int | None = None

    def delivered(self, offset: int) -> int:
        """Record a delivery; returns its attempt number (1 the first time in this process)."""
        self.in_flight.add(offset)
        self.next_offset = max(self.next_offset or 0, offset + 1)
        self.attempts[offset] = self.attempts.get(offset, 0) + 1
        return self.attempts[offset]

    def acknowledged(self, offset: int) -> None:
        self.in_flight.discard(offset)
        self.attempts.pop(offset, None)

    def rewound(self, offset: int) -> None:
        """A seek back to `offset`: everything from there on will be delivered again."""
        self.in_flight = {o for o in self.in_flight if o < offset}
        if self.next_offset is not None:
            self.next_offset = min(self.next_offset, offset)

    def committable(self) -> int | None:
        """The offset to commit now, or None if nothing new may be committed."""
        if self.next_offset is None:
            return None
        offset = min(self.in_flight) if self.in_flight else self.next_offset
        return None if self.committed is not None and offset <= self.committed else offset
