"""Free ports for the servers the demo, the benchmarks and the tests start."""

import socket
from contextlib import ExitStack

from fashion_pubsub.infra.ports import free_port, free_port_block


def test_a_free_port_can_be_listened_on() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))
        server.listen()


def test_a_port_block_is_that_many_consecutive_free_ports() -> None:
    base = free_port_block(5)
    with ExitStack() as stack:
        for port in range(base, base + 5):
            stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
