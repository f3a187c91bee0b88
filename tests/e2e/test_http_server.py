"""The router's HTTP/1.1 protocol (server/http.py) under the real server, over real sockets: answers
and errors arrive whole (head and body in one write), interim `100 Continue` responses at once (a
client waits for them before sending its body), pipelined requests answered in order. The protocol's
other behaviour, byte by byte, is in tests/unit/test_http_server.py."""

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
    body = b'{"model": "some/model:local", "messages": [{"role": "user", "content": "hi"}]}'
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
    body = b'{"model": "some/model:local", "messages": [{"role": "user", "content": "hi"}]}'
    answer = await _exchange(
        port, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"expect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body), expect_continue=body)
    assert answer.startswith(b"HTTP/1.1 200 "), answer


async def test_pipelined_requests_get_their_answers_in_order(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start()
    r = await router.start(provider_config(mock, name="local"))
    port = int(r.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /v1/models/nobody/nothing HTTP/1.1\r\nhost: x\r\n\r\n"
                     b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        answers = b""
        while answers.count(b"HTTP/1.1 ") < 2 or not answers.endswith(b"}"):
            answers += await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
    first, second = answers.index(b"HTTP/1.1 404 "), answers.index(b"HTTP/1.1 200 ")
    assert first < second and b"model_not_found" in answers[first:second]
