"""What a client connection may cost, against the real server over raw sockets (server/http.py's
limits, `server:` in the config): silent connections and slow heads closed at their deadlines, huge
and over-long heads refused 431 as they arrive, the connection cap making room or refusing with 503
while an existing client is still answered, a declared body beyond `max_request_bytes` refused 413
without `100 Continue`; and, on both HTTP stacks, a credential given twice refused as ambiguous.
Each test takes well under 2 s: the configured deadlines are short."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from tests.conftest import Mocks, RouterFactory, provider_config

LIMITS = """
server:
  http_stack: fast
  idle_timeout: 0.3
  header_timeout: 0.5
  max_head_bytes: 8192
  max_header_line_bytes: 1024
  max_header_count: 20
  max_request_bytes: 1000
"""
HEALTH = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def answer(reader: asyncio.StreamReader, within: float = 2) -> tuple[int, dict[str, str], bytes]:
    """One whole answer with a Content-Length: status, headers, body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), within)
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), within)
    return int(lines[0].split(" ")[1]), headers, body


async def closed(reader: asyncio.StreamReader, within: float) -> float:
    """Seconds until the server closes the connection (EOF or reset), unanswered."""
    started = time.monotonic()
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(reader.read(65536), within) == b""
    return time.monotonic() - started


async def test_a_silent_connection_is_closed_after_the_idle_timeout(router: RouterFactory) -> None:
    r = await router.start(LIMITS)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(r.url))
    try:
        took = await closed(reader, 2)
    finally:
        writer.close()
    assert 0.25 <= took < 1.0


async def test_a_head_sent_byte_by_byte_is_cut_at_the_head_deadline(router: RouterFactory) -> None:
    r = await router.start(LIMITS)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(r.url))
    started = time.monotonic()
    try:
        for byte in b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 100:
            if reader.at_eof() or time.monotonic() - started > 1.5:
                break
            writer.write(bytes([byte]))  # a byte every 0.1 s: in time for the idle timeout, never a whole head
            await writer.drain()
            try:
                status, headers, body = await asyncio.wait_for(answer(reader), 0.1)
                break
            except TimeoutError:
                continue
        took = time.monotonic() - started
    finally:
        writer.close()
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert 0.45 <= took < 1.0


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await answer(reader)
    finally:
        writer.close()


async def test_a_huge_header_is_refused_431_at_once(router: RouterFactory) -> None:
    r = await router.start(LIMITS)
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(r.url))
    started = time.monotonic()
    try:
        writer.write(b"GET /health HTTP/1.1\r\nhost: x\r\nx-huge: " + b"a" * (8 << 20))  # 8 MiB, never ended
        status, headers, body = await answer(reader)
    finally:
        writer.transport.abort()
    assert time.monotonic() - started < 1
    assert status == 431 and headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "request_header_fields_too_large"
    assert (await exchange(port_of(r.url), HEALTH))[0] == 200  # and the router answers others


async def test_too_many_headers_or_a_long_line_are_refused_431(router: RouterFactory) -> None:
    r = await router.start(LIMITS)
    port = port_of(r.url)
    many = await exchange(port, b"GET /health HTTP/1.1\r\nhost: x\r\n" + b"x-a: 1\r\n" * 21 + b"\r\n")
    long = await exchange(port, b"GET /health HTTP/1.1\r\nhost: x\r\nx-a: " + b"a" * 1100 + b"\r\n\r\n")
    for status, headers, body in (many, long):
        assert status == 431 and headers["connection"] == "close"
        assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert (await exchange(port, b"GET /health HTTP/1.1\r\n" + b"x-a: 1\r\n" * 20 + b"\r\n"))[0] == 200


async def test_a_declared_body_too_large_gets_413_without_continue(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start()
    r = await router.start(LIMITS + provider_config(mock, name="local"))
    status, headers, body = await exchange(
        port_of(r.url), b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"expect: 100-continue\r\ncontent-length: 1001\r\n\r\n")  # a 100 Continue would come first
    assert status == 413 and headers["connection"] == "close" and headers["x-request-id"]
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert mock.hits == 0


async def test_the_connection_cap_makes_room_or_refuses_while_a_client_is_answered(router: RouterFactory) -> None:
    r = await router.start(LIMITS.replace("idle_timeout: 0.3", "idle_timeout: 5") + "  max_connections: 3\n")
    port = port_of(r.url)
    # three silent connections fill the cap: a fourth client makes room (the oldest silent one goes)
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert (await exchange(port, HEALTH))[0] == 200
    assert await closed(silent[0][0], 1) < 1
    for _, writer in silent:
        writer.close()
    await asyncio.sleep(0.05)
    # three connections each in the middle of a request (its body still to come) fill it with work
    post = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 2\r\n\r\n")
    busy = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    for _, writer in busy:
        writer.write(post)
        await writer.drain()
    await asyncio.sleep(0.05)
    status, headers, body = await exchange(port, HEALTH)  # the fourth: refused at once
    assert status == 503 and headers["connection"] == "close" and headers["retry-after"] == "1"
    assert json.loads(body)["error"]["code"] == "too_many_connections"
    reader, writer = busy[0]
    writer.write(b"{}")  # an existing client finishes its request: answered (the model is missing)
    status, _, body = await answer(reader)
    assert status == 400 and b"error" in body
    for _, writer in busy:
        writer.close()


async def test_a_credential_given_twice_is_refused_as_ambiguous(router: RouterFactory) -> None:
    key = "sk-master-0123456789"
    r = await router.start(f"server:\n  master_key: {key}\n")
    port = port_of(r.url)
    for twice in (b"authorization: Bearer %s\r\nauthorization: Bearer other-key-123\r\n" % key.encode(),
                  b"x-api-key: other-key-123\r\nx-api-key: %s\r\n" % key.encode()):
        status, _, body = await exchange(port, b"GET /v1/models HTTP/1.1\r\nhost: x\r\n%s\r\n" % twice)
        error = json.loads(body)["error"]
        assert (status, error["code"], error["type"]) == (400, "ambiguous_credentials", "invalid_request_error")
    once = b"authorization: Bearer %s\r\naccept: a\r\naccept: b\r\n" % key.encode()  # other repeats are fine
    assert (await exchange(port, b"GET /v1/models HTTP/1.1\r\nhost: x\r\n%s\r\n" % once))[0] == 200
