"""Free TCP ports on 127.0.0.1, for servers the demo, the benchmarks and the tests start."""

import socket


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_block(count: int) -> int:
    """The first of `count` consecutive ports nothing listens on right now (a Kafka
    cluster's nodes take neighbouring ports).

    Args:
        count: how many consecutive ports are needed.

    Raises:
        RuntimeError: no such block was found in 50 tries.
    """
    for _ in range(50):
        base = free_port()
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")
