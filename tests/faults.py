"""Faults a provider can have, as replies of the mock providers (`tests/mocks.py`) and as sockets.

Replies: `reset` (part of an answer, then a TCP reset, as a crashed host's kernel sends),
`not_http` (bytes that are no HTTP at all), `huge` (an answer that never stops growing, written as the
reader takes it). Sockets: `Blackhole`, a port where connecting times out.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from tests.mocks import MockProvider, Reply
from tests.ports import listening_socket


def _reset(request: web.Request) -> None:
    """Abort the connection with a RST rather than a FIN: SO_LINGER on, zero seconds."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def reset(content_type: str, sent: bytes, declared: int | None = None) -> Reply:
    """A 200 whose head and first bytes (`sent`) arrive, then a reset. `declared`: a Content-Length
    promising more (else the body is chunked)."""

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": content_type})
        if declared is not None:
            resp.content_length = declared
        await resp.prepare(request)
        await resp.write(sent)
        await asyncio.sleep(0.05)  # the bytes leave before the reset
        _reset(request)
        return resp

    return reply


def not_http(data: bytes = b"\x16\x03\x01\x02\x00garbage, not a status line\r\n\r\n") -> Reply:
    """Bytes that are no HTTP answer (a TLS record, then noise), then the connection closed."""

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.write(data)
        await asyncio.sleep(0.05)
        request.transport.close()
        return web.Response(status=500)

    return reply


def huge(content_type: str, size: int, *, declared: bool = False, prefix: bytes = b"",
         block: bytes = b"x" * 65536) -> Reply:
    """A 200 of `size` bytes (`prefix`, then `block` repeated), written as fast as the reader takes it;
    `declared`: with its Content-Length (else chunked). Stops quietly when the reader hangs up."""

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": content_type})
        if declared:
            resp.content_length = size
        await resp.prepare(request)
        left = size
        try:
            await resp.write(prefix)
            left -= len(prefix)
            while left > 0:
                piece = block[:left]
                await resp.write(piece)
                left -= len(piece)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):  # the router stopped reading: what it should do
            pass
        return resp

    return reply


class Blackhole:
    """A listening port where connecting times out, as to a host that is down behind a firewall.

    Its accept queue (backlog 0: room for one) is filled by a connection of ours and never served, so
    the kernel drops every further SYN. `serve(mock)` then empties the queue and starts `mock` on the
    same port: the provider came back.
    """

    def __init__(self) -> None:
        self.sock = listening_socket(0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        self.served = False

    async def serve(self, mock: MockProvider) -> None:
        self.sock.setblocking(False)
        try:
            accepted, _ = self.sock.accept()
            accepted.close()
        except BlockingIOError:
            pass
        self._filler.close()
        self.sock.listen(128)
        await mock.start(sock=self.sock)
        self.served = True

    def close(self) -> None:
        """Close it, unless a mock serves on it (the mock's `stop()` does)."""
        self._filler.close()
        if self.sock.fileno() >= 0 and not self.served:
            self.sock.close()
