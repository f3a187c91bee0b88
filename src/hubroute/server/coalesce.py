"""One write per response where uvicorn would make two: the response head leaves with the body.

uvicorn writes a response's status line and headers as soon as the app sends `http.response.start`,
and the body with the next message: two `send()` calls on the socket. On a loopback or virtual
network each call also runs the receiver's side of TCP, and a profile of the router under load
spent ~15% of its time in the first of them. Here the head is held until the body's first write
(normally in the same event-loop turn) and both go in one call; whatever else happens first (a
close, an abort, the end of that turn) sends the held head on its own, so nothing is ever delayed
by more than one turn. Interim responses (`100 Continue`) are never held.

The wrapper sits between uvicorn's httptools protocol and the socket's transport, and delegates
everything else to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_HEAD = b"HTTP/1.1 "
_INTERIM = b"HTTP/1.1 1"


class HeadHoldingTransport:
    """A transport that holds a response head until the next write, then writes both at once."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:9] == _HEAD and data[:10] != _INTERIM:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `HeadHoldingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadHoldingTransport(transport, self.loop))  # type: ignore[arg-type]
