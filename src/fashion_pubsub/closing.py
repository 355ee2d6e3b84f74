"""`Closeable`: the context-manager half of every class that holds a connection, written
once (the brokers' publishers, consumers and transactional sessions, the model server
clients and the metrics server all leave a `with` block by calling their own `close()`)."""

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closeable(ABC):
    """A context manager whose exit calls `close()`; subclasses implement `close()`."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds (flush first where it buffers)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
