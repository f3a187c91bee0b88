"""HeadHoldingTransport: a response head is written together with the next write, and never held
past the event-loop turn it was written in, a close or an abort. The transport below it is a
recorder standing in for the socket, so the writes can be counted."""

from __future__ import annotations

import asyncio

from hubroute.server.coalesce import HeadHoldingTransport


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 8080) if name == "sockname" else default


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


async def test_the_head_leaves_with_the_body_in_one_write() -> None:
    sock = Recorder()
    t = HeadHoldingTransport(sock, asyncio.get_running_loop())
    t.write(HEAD)
    assert sock.writes == []
    t.write(b"{}")
    assert sock.writes == [HEAD + b"{}"]
    t.write(b"more")
    assert sock.writes == [HEAD + b"{}", b"more"]
    assert t.get_extra_info("sockname") == ("127.0.0.1", 8080)  # the rest is the socket's


async def test_a_head_alone_leaves_at_the_end_of_the_turn() -> None:
    sock = Recorder()
    t = HeadHoldingTransport(sock, asyncio.get_running_loop())
    t.write(HEAD)
    await asyncio.sleep(0)
    assert sock.writes == [HEAD]
    t.write(b"{}")
    assert sock.writes == [HEAD, b"{}"]


async def test_interim_responses_close_and_abort() -> None:
    loop = asyncio.get_running_loop()
    sock = Recorder()
    t = HeadHoldingTransport(sock, loop)
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert sock.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]  # never held: the client waits for it
    t.write(HEAD)
    t.close()
    assert sock.writes[-1] == HEAD and sock.closed  # flushed before closing
    aborted = Recorder()
    t = HeadHoldingTransport(aborted, loop)
    t.write(HEAD)
    t.abort()
    await asyncio.sleep(0)
    assert aborted.writes == [] and aborted.aborted  # an abort drops what was not sent
