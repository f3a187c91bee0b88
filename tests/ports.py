"""Ports for the servers the tests start: mock providers, routers, `hubroute serve` processes.

Every test server listens on a port of its pytest-xdist worker's own slice of the range below the
kernel's ephemeral ports, taken in turn round that slice. So a port one test lets go is not listened
on again by any test until its worker has gone round several thousand ports: a router a test left
pointing at a mock it stopped, or a client left pointing at a stopped router, is refused, never
answered by another test's server. (`bind(0)` could hand the port of a stopped mock straight to
another worker's mock, which then counted a request that was not its test's; and a kernel-chosen
port may be given to an outgoing connection before the server that was meant to have it binds it.)
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

#: how far below the ephemeral range the tests' ports reach
SPAN = 20_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _slice() -> range:
    """This process's ports: its xdist worker's share of the range (all of it without xdist)."""
    top = _ephemeral_low()
    bottom = max(1024, top - SPAN)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw3"
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (top - bottom) // max(count, 1)
    return range(bottom + index * size, bottom + (index + 1) * size)


_ports = _slice()
# where in the slice this process starts: runs one after the other do not take the same ports first
_next = random.Random().randrange(len(_ports))


def _in_turn() -> Iterator[int]:
    """This worker's ports, each once, from where the last call stopped."""
    global _next
    for _ in range(len(_ports)):
        port = _ports[_next % len(_ports)]
        _next += 1
        yield port


def free_port() -> int:
    """The next port of this worker's slice that nothing listens on, for a server started from it
    now or later in the test (or an address meant to refuse connections)."""
    for port in _in_turn():
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {_ports}")


def listening_socket(backlog: int = 128) -> socket.socket:
    """A socket listening on the next free port of this worker's slice: for a server that takes a
    socket (`backlog` 0: a listener whose queue a test fills)."""
    for port in _in_turn():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(backlog)
        return sock
    raise RuntimeError(f"no free port in {_ports}")
