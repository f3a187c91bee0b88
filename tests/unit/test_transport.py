"""The network layer against real local servers: limits, timeouts, refused connections, SSE."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from hubroute.errors import ProviderConnectionError, ProviderResponseError, ProviderTimeout
from hubroute.providers import HttpRequest
from hubroute.transport import SSEEvent, Timeouts, Transport, parse_retry_after, parse_sse
from tests.conftest import Mocks, free_port
from tests.mocks import hang, json_reply, sse_reply, stream_events

FAST = Timeouts(connect=2, first_byte=2, idle=2)


def post(url: str, body: bytes = b"{}") -> HttpRequest:
    return HttpRequest("POST", url, {"content-type": "application/json"}, body)


@pytest.fixture
async def transport():
    t = Transport(connect_timeout=2, idle_timeout=2)
    yield t
    await t.close()


async def test_fetch_reads_whole_answers_small_and_large(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    big = b'{"x": "' + b"a" * 300_000 + b'"}'
    mock.enqueue(json_reply({"ok": 1}, headers={"x-thing": "y"}), json_reply(big))
    small = await transport.fetch(post(mock.url + "/a"), "mock", FAST, 1 << 20)
    assert (small.status, small.body, small.content_type) == (200, b'{"ok":1}', "application/json")
    assert small.headers.get("X-Thing") == "y"
    large = await transport.fetch(post(mock.url + "/b"), "mock", FAST, 1 << 20)
    assert large.body == big
    sent = {k.lower(): v for k, v in mock.received[0].headers.items()}
    assert mock.received[0].body == b"{}" and sent["content-type"] == "application/json"


async def test_fetch_refuses_answers_over_the_limit(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(json_reply(b"x" * 200_000))
    with pytest.raises(ProviderResponseError, match="more than 100000 bytes"):
        await transport.fetch(post(mock.url), "mock", FAST, 100_000)


async def test_fetch_returns_error_statuses(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(json_reply({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "7"}))
    reply = await transport.fetch(post(mock.url), "mock", FAST, 1 << 20)
    err = transport.http_error(reply)
    assert (err.status_code, err.retry_after, err.provider) == (429, 7.0, "mock")
    assert "slow down" in err.message


async def test_refused_connection_and_first_byte_timeout(mocks: Mocks, transport: Transport) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProviderConnectionError, match="could not connect to p"):
        await transport.fetch(post(closed), "p", FAST, 1 << 20)
    with pytest.raises(ProviderConnectionError):
        await transport.open(post(closed), "p", FAST)
    mock = await mocks.start()
    mock.enqueue(hang(5), hang(5))
    quick = Timeouts(connect=1, first_byte=0.3, idle=1)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"within 0\.3s"):
        await transport.fetch(post(mock.url), "mock", quick, 1 << 20)
    with pytest.raises(ProviderTimeout):
        await transport.open(post(mock.url), "mock", quick)
    assert time.monotonic() - started < 2


async def test_fetch_wants_the_whole_answer_within_the_first_byte_timeout(mocks: Mocks, transport: Transport) -> None:
    # the head at once, then a body that trickles (each piece well within the idle timeout): a
    # whole answer is due within first_byte, not just its head
    mock = await mocks.start()
    mock.enqueue(sse_reply([b"data: %d" % i for i in range(10)], delay=0.1))
    quick = Timeouts(connect=1, first_byte=0.3, idle=1)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"mock did not answer within 0\.3s"):
        await transport.fetch(post(mock.url), "mock", quick, 1 << 20)
    assert time.monotonic() - started < 0.6


async def test_stream_events_arrive_as_they_are_sent(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(sse_reply(stream_events(["one", "two"]), delay=0.5))
    resp = await transport.open(post(mock.url), "mock", FAST)
    batches = resp.event_batches()
    first = await asyncio.wait_for(anext(batches), 0.4)  # long before the stream ends (~2 s)
    assert b'"one"' in first.first().data
    rest = [e async for batch in batches for e in batch.events]
    assert rest[-1].data == b"[DONE]"
    await resp.release()


async def test_stream_broken_midway_is_a_connection_error(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(sse_reply(stream_events(["one", "two", "three"]), break_after=1))
    resp = await transport.open(post(mock.url), "mock", FAST)
    with pytest.raises(ProviderConnectionError):
        async for _ in resp.event_batches():
            pass
    await resp.close()


@pytest.mark.parametrize(("block", "canonical"), [
    (b"data: {}\n\n", True),
    (b"data: {}\n\ndata: [DONE]\n\n", True),
    (b"data: a\ndata: b\n\n", False),  # one event of two data lines
    (b"data: a\n\n\ndata: b\n\n", False),  # a stray blank line
    (b"data: a\n\nevent: x\ndata: b\n\n", False),
    (b"data: a\n\n: keep-alive\n\n", False),
    (b"data: a\r\n\r\n", False),
    (b"data:a\n\n", False),
])
def test_parse_sse_takes_only_canonical_blocks_as_they_are(block: bytes, canonical: bool) -> None:
    batch = parse_sse(block)
    assert (batch.raw is not None) == canonical
    slow = [(e.data, e.event) for e in parse_sse(block.replace(b"data: ", b"data:")).events]
    assert [(e.data, e.event) for e in batch.events] == slow  # the same events either way
    assert batch.count == len(slow)


def test_parse_sse_variants() -> None:
    assert parse_sse(b"data: a\n\ndata: b\n\n").events == [SSEEvent(b"a"), SSEEvent(b"b")]
    assert parse_sse(b"data:[DONE]\n\n").events == [SSEEvent(b"[DONE]")]
    assert parse_sse(b"data: a\r\n\r\n: keep-alive\r\n\r\n").events == [SSEEvent(b"a")]
    assert parse_sse(b"event: error\ndata: {\"x\":1}\n\n").events == [SSEEvent(b'{"x":1}', "error")]
    assert parse_sse(b"data: line1\ndata: line2\nid: 3\nretry: 10\n\n").events == [SSEEvent(b"line1\nline2")]


def test_retry_after_forms() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < (parse_retry_after(future) or 0) <= 60
