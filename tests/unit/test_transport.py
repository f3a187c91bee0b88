"""The network layer against real local servers: limits, timeouts, refused connections, SSE. Every
test that takes the `transport` fixture runs on both HTTP stacks (`server.http_stack`): `fast`, our
own h1 client, and `stock`, aiohttp; they must not be told apart, errors and their wording included."""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from hubroute import transport as transport_module
from hubroute.config import Settings
from hubroute.errors import ProviderConnectionError, ProviderResponseError, ProviderTimeout
from hubroute.providers import HttpRequest
from hubroute.transport import EventBatches, SSEEvent, Timeouts, Transport, parse_retry_after, parse_sse
from tests.conftest import Mocks
from tests.mocks import hang, json_reply, sse_reply, stream_events
from tests.ports import free_port
from tests.unit.test_h1 import Handler, Proxy, RawServer, answer, keep_answering

FAST = Timeouts(connect=2, first_byte=2, idle=2)


def post(url: str, body: bytes = b"{}") -> HttpRequest:
    return HttpRequest("POST", url, {"content-type": "application/json"}, body)


@pytest.fixture(params=["fast", "stock"])
async def transport(request: pytest.FixtureRequest):
    t = Transport(connect_timeout=2, idle_timeout=2, stack=request.param)
    yield t
    if t.stack == "stock":
        assert t._h1 is None  # h1 never used
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


# --- both stacks alike: timeouts by phase, errors in the same words, proxies, pooled connections ----
@pytest.fixture
async def servers() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    started: list[RawServer] = []

    async def start(handler: Handler) -> RawServer:
        started.append(await RawServer(handler).start())
        return started[-1]

    yield start
    for server in started:
        await server.close()


def test_the_stack_comes_from_the_settings() -> None:
    assert Transport.from_settings(Settings()).stack == "fast"
    stock = Settings.parse("server:\n  http_stack: stock\nrouting:\n  timeouts: {connect: 3, idle: 4}\n", {})
    transport = Transport.from_settings(stock)
    assert (transport.stack, transport._connect, transport._idle) == ("stock", 3, 4)
    with pytest.raises(ValueError, match="unknown HTTP stack"):
        Transport(stack="fastest")  # type: ignore[arg-type]


async def test_a_refused_connection_names_the_address_and_the_reason(transport: Transport) -> None:
    port = free_port()
    with pytest.raises(ProviderConnectionError) as caught:
        await transport.open(post(f"http://127.0.0.1:{port}/v1"), "p", FAST)
    assert caught.value.message == f"could not connect to p (127.0.0.1:{port}): Connection refused"


async def test_a_connection_not_made_in_time_is_a_connect_timeout(transport: Transport) -> None:
    # a TCP peer that never answers the TLS handshake: the connection (TLS included) is not there,
    # and first_byte, shorter, only counts once it is
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout) as caught:
            await transport.open(post(f"https://127.0.0.1:{port}/v1"), "p", Timeouts(0.3, first_byte=0.1, idle=5))
        assert caught.value.message == f"p: connecting to 127.0.0.1:{port} timed out after 0.3s"
        assert time.monotonic() - started < 2
    finally:
        listener.close()


async def test_the_head_timer_starts_once_connected(servers, transport: Transport) -> None:
    async def silent(reader, writer, server):
        await server.read_request(reader)
        await reader.read()

    server = await servers(silent)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as caught:
        await transport.open(post(server.url), "p", Timeouts(connect=3, first_byte=0.3, idle=5))
    assert caught.value.message == "p did not answer within 0.3s"
    assert 0.25 < time.monotonic() - started < 2


async def test_silence_in_the_body_is_an_idle_timeout(servers, transport: Transport) -> None:
    async def stall(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"d\r\ndata: first\n\n\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up

    server = await servers(stall)
    resp = await transport.open(post(server.url), "p", Timeouts(connect=2, first_byte=2, idle=0.3))
    batches = resp.event_batches()
    assert (await anext(batches)).first().data == b"first"
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"^p went silent while answering$"):
        await anext(batches)
    assert 0.25 < time.monotonic() - started < 2
    await resp.close()


async def test_a_connection_closed_before_the_answer_is_a_connection_error(servers, transport: Transport) -> None:
    async def hang_up(reader, writer, server):
        await server.read_request(reader)

    server = await servers(hang_up)
    with pytest.raises(ProviderConnectionError) as caught:
        await transport.open(post(server.url), "p", FAST)
    assert caught.value.message == "p connection failed: server closed the connection before answering"
    assert len(server.requests) == 1  # a fresh connection: not sent again


async def test_a_body_cut_short_is_a_connection_error(servers, transport: Transport) -> None:
    async def cut(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
        await writer.drain()

    server = await servers(cut)
    with pytest.raises(ProviderConnectionError, match=r"^p connection broke while answering: "):
        await transport.fetch(post(server.url), "p", FAST, 1 << 20)


async def test_a_post_racing_the_servers_close_of_a_pooled_connection_is_sent_again(servers, transport) -> None:
    async def drop_second(reader, writer, server):
        await server.read_request(reader)
        writer.write(answer(b"{}"))
        await writer.drain()
        if server.connections == 1:
            await reader.readuntil(b"\r\n\r\n")  # reads the next request, then drops it unanswered
            writer.transport.abort()
            return
        await keep_answering(reader, writer, server)

    server = await servers(drop_second)
    assert (await transport.fetch(post(server.url, b"1"), "p", FAST, 100)).body == b"{}"
    assert (await transport.fetch(post(server.url, b"2"), "p", FAST, 100)).body == b"{}"
    assert server.connections == 2 and [b for *_, b in server.requests] == [b"1", b"2"]


async def test_answers_read_to_their_end_leave_their_connection_pooled(servers, transport: Transport) -> None:
    server = await servers(keep_answering)
    for body in (b"a", b"bb", b"ccc"):
        reply = await transport.fetch(post(server.url, body), "p", FAST, 100)
        assert reply.body == b'{"echo":%d}' % len(body)
    resp = await transport.open(post(server.url, b"dddd"), "p", FAST)
    assert [c async for c in resp.chunks()] == [b'{"echo":4}'] and resp.at_eof
    await resp.release()
    assert server.connections == 1


async def test_what_is_sent_and_what_is_seen_of_the_answer(servers, transport: Transport) -> None:
    async def untyped(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 201 Created\r\nx-thing: 1\r\nX-Thing: 2\r\ncontent-length: 2\r\n\r\nhi")
        await writer.drain()

    server = await servers(untyped)
    reply = await transport.fetch(HttpRequest("POST", server.url + "/v1?a=b", {"authorization": "Bearer k"}, b"{}"),
                                  "p", FAST, 100)
    assert (reply.status, reply.content_type, reply.body) == (201, "", b"hi")
    assert reply.headers.getall("x-thing") == ["1", "2"]
    line, headers, body = server.requests[0]
    assert line == "POST /v1?a=b HTTP/1.1" and body == b"{}"
    assert headers["authorization"] == "Bearer k" and headers["user-agent"] == "hubroute"
    assert headers["content-length"] == "2" and "accept-encoding" not in headers and "cookie" not in headers
    with pytest.raises(ProviderConnectionError, match=r"^p: cannot send the request: "):
        await transport.open(HttpRequest("GET", server.url, {"x-bad": "a\r\nx-injected: 1"}), "p", FAST)


async def test_proxies_from_the_environment_loopback_direct(servers, transport: Transport, monkeypatch) -> None:
    origin = await servers(keep_answering)
    proxy = await Proxy().start()
    try:
        for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "example.org")
        for _ in range(2):
            reply = await transport.fetch(post(f"http://origin.test:{origin.port}/x", b"ab"), "p", FAST, 100)
            assert reply.body == b'{"echo":2}'
        line, headers = proxy.seen[0]
        assert line == f"POST http://origin.test:{origin.port}/x HTTP/1.1"
        assert headers["proxy-authorization"] == "Basic dXNlcjpwQHNz"  # user:p@ss
        assert len(proxy.seen) == 1  # the connection to the proxy was reused
        await transport.fetch(post(f"http://127.0.0.1:{origin.port}/y"), "p", FAST, 100)  # never proxied
        with pytest.raises(ProviderConnectionError, match=re.escape("could not connect to p (example.org:1)")):
            await transport.fetch(post("http://example.org:1/z"), "p", Timeouts(0.5, 1, 1), 100)
        assert len(proxy.seen) == 1 and origin.requests[-1][0] == "POST /y HTTP/1.1"
    finally:
        await proxy.close()


async def test_https_goes_through_the_proxys_tunnel(transport: Transport, monkeypatch) -> None:
    proxy = await Proxy(refuse=True).start()
    try:
        for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with pytest.raises(ProviderConnectionError) as caught:
            await transport.open(post("https://origin.test/v1"), "p", FAST)
        port = proxy.url.rsplit(":", 1)[1]
        assert caught.value.message == (f"could not connect to p (origin.test:443): proxy 127.0.0.1:{port} "
                                        "refused the tunnel: HTTP/1.1 403 Forbidden")
        line, headers = proxy.seen[0]
        assert line == "CONNECT origin.test:443 HTTP/1.1" and headers["proxy-authorization"] == "Basic dXNlcjpwQHNz"
    finally:
        await proxy.close()


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


@pytest.mark.parametrize("value", ["1e309", "inf", "-inf", "nan", "NaN", "-5", "1_000", "0x10", "1e3", "+3",
                                   "", "  ", "12 s", "9" * 400, "Wed, 21 Oct 99999 07:28:00 GMT", "Mon, 32 Foo 2015 x"])
def test_retry_after_nonsense_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_all_forms_of_rfc_9110() -> None:
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5  # not RFC 9110, but sent in the wild
    assert parse_retry_after("99999999999") == 99999999999.0  # finite: the caller caps it
    when = time.time() + 90
    for form in (email.utils.formatdate(when, usegmt=True),  # IMF-fixdate
                 time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(when)),  # RFC 850
                 time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(when)),  # asctime, no zone: GMT
                 email.utils.formatdate(when, localtime=False)):  # "-0000"
        assert 85 < (parse_retry_after(form) or 0) <= 90, form
    assert parse_retry_after(email.utils.formatdate(time.time() - 3600, usegmt=True)) == 0.0  # past: now


# --- bounded, linear event reading (issue 11, item 5) ----------------------------------------------
class _Pieces:
    """An upstream response that delivers `pieces` one read at a time (EventBatches' side of it)."""

    provider = "p"
    status = 200

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = iter(pieces)

    def read_nowait(self) -> bytes | None:
        return next(self._pieces, b"")

    async def read_any(self, idle: float | None = None) -> bytes:
        return next(self._pieces, b"")


async def _events(pieces: list[bytes], max_event: int = 1 << 30) -> list[tuple[bytes, str | None]]:
    batches = EventBatches(_Pieces(pieces), None, max_event)  # type: ignore[arg-type]
    return [(e.data, e.event) async for batch in batches for e in batch.events]


async def test_events_split_anywhere_read_as_whole() -> None:
    text = (b"data: one\n\nevent: error\r\ndata: {\"a\": 1}\r\n\r\n: keep-alive\r\r"
            b"data: two\rdata: more\r\rdata: three\n\ndata: [DONE]\n\n")
    whole = [(e.data, e.event) for e in parse_sse(text).events]
    assert await _events([text]) == whole
    rng = random.Random(11)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 30)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert await _events(pieces) == whole, pieces
    assert await _events([bytes([c]) for c in text]) == whole  # a byte per read


async def test_an_event_is_scanned_once_however_many_reads_bring_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 MB in 1 KB reads: the end is looked for in each new read (and 3 bytes before it), never
    # again in what came before, and the pieces are joined once
    scanned = 0
    search = transport_module._last_event_end

    def counting(buffer: bytes) -> int:
        nonlocal scanned
        scanned += len(buffer)
        return search(buffer)

    monkeypatch.setattr(transport_module, "_last_event_end", counting)
    size = 20 * 1024 * 1024
    pieces = [b"data: ", *[b"x" * 1024] * (size // 1024), b"\n\ndata: [DONE]\n\n"]
    started = time.perf_counter()
    events = await _events(pieces, max_event=32 * 1024 * 1024)
    assert [len(data) for data, _ in events] == [size, 6]
    assert scanned <= size + 4 * len(pieces) + 64
    assert time.perf_counter() - started < 3


async def test_an_event_past_the_limit_is_refused_as_it_grows() -> None:
    pieces = [b"data: ok\n\ndata: ", *[b"x" * 1000] * 5000]
    batches = EventBatches(_Pieces(pieces), None, 100_000)  # type: ignore[arg-type]
    assert (await anext(batches)).first().data == b"ok"
    with pytest.raises(ProviderResponseError, match=r"^p sent an event larger than 100000 bytes"):
        await anext(batches)
    # the events a read completed go out before the event it began past the limit is refused
    batches = EventBatches(_Pieces([b"data: ok\n\ndata: " + b"x" * 200_000]), None, 100_000)  # type: ignore[arg-type]
    assert (await anext(batches)).first().data == b"ok"
    with pytest.raises(ProviderResponseError, match="larger than 100000 bytes"):
        await anext(batches)
    # exactly at the limit is fine, one byte more is not (a stream's end does not let it through)
    assert await _events([b"data: " + b"y" * 94, b"\n\n"], max_event=100) == [(b"y" * 94, None)]
    with pytest.raises(ProviderResponseError):
        await _events([b"data: " + b"y" * 95, b"\n\n"], max_event=100)
    with pytest.raises(ProviderResponseError):
        await _events([b"data: " + b"y" * 95], max_event=100)


async def test_a_huge_event_without_its_end_fails_early_on_a_real_stream(servers, transport: Transport) -> None:
    sent = 0

    async def endless(reader, writer, server):  # 64 MB of one event, never ended
        nonlocal sent
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"d\r\ndata: first\n\n\r\n6\r\ndata: \r\n")
        piece = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        try:
            for _ in range(1024):
                writer.write(piece)
                await writer.drain()
                sent += 65536
        except (ConnectionError, OSError):
            pass

    server = await servers(endless)
    transport.max_event_bytes = 1024 * 1024
    resp = await transport.open(post(server.url), "p", FAST)
    batches = resp.event_batches()
    assert (await anext(batches)).first().data == b"first"
    with pytest.raises(ProviderResponseError, match=r"^p sent an event larger than 1048576 bytes"):
        await asyncio.wait_for(anext(batches), 10)
    await resp.close()
    assert sent < 16 * 1024 * 1024  # read no further than the limit (and what the sockets buffer)


def test_the_event_limit_comes_from_the_settings() -> None:
    assert Transport.from_settings(Settings()).max_event_bytes == 1024 * 1024
    settings = Settings.parse("routing:\n  max_event_bytes: 4096\n", {})
    assert Transport.from_settings(settings).max_event_bytes == 4096
