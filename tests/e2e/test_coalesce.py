"""The router's responses with the head held for the body (server/coalesce.py), over real sockets:
answers and errors arrive whole, interim `100 Continue` responses at once (a client waits for them
before sending its body). How many writes leave is asserted in tests/unit/test_coalesce.py."""

from __future__ import annotations

import asyncio

from tests.conftest import Mocks, RouterFactory, provider_config
from tests.mocks import json_reply


async def _exchange(port: int, request: bytes, *, expect_continue: bytes | None = None) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        if expect_continue is not None:
            interim = await asyncio.wait_for(reader.read(65536), 2)
            assert interim.startswith(b"HTTP/1.1 100 "), interim
            writer.write(expect_continue)
            await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)  # what the first write delivered
    finally:
        writer.close()


async def test_answers_and_errors_arrive_whole(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start()
    mock.enqueue(json_reply({"id": "x", "object": "chat.completion", "model": "m",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                          "finish_reason": "stop"}]}))
    r = await router.start(provider_config(mock, name="local"))
    port = int(r.url.rsplit(":", 1)[1])
    body = b'{"model": "some/model", "messages": [{"role": "user", "content": "hi"}]}'
    first = await _exchange(port, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                            b"content-length: %d\r\n\r\n%s" % (len(body), body))
    head, _, rest = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b'"content":"hi"' in rest

    missing = await _exchange(port, b"GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 404 ") and missing.endswith(b"}")


async def test_interim_continue_is_not_held(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start()
    r = await router.start(provider_config(mock, name="local"))
    port = int(r.url.rsplit(":", 1)[1])
    body = b'{"model": "some/model", "messages": [{"role": "user", "content": "hi"}]}'
    answer = await _exchange(
        port, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"expect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body), expect_continue=body)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
