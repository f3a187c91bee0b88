"""hubroute.h1, the upstream HTTP/1.1 client, against raw local servers that answer byte by byte as
scripted: framing (length, chunked, close-delimited, interim), keep-alive and its failures, flow
control, timeouts, compression, TLS."""

from __future__ import annotations

import asyncio
import gc
import gzip
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hubroute import h1
from hubroute.providers import HttpRequest
from hubroute.transport import Timeouts, Transport
from tests.ports import free_port, listening_socket

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


class RawServer:
    """A TCP server whose connections are handled by a scripted coroutine."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        line, *fields = head.split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if f)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((line, headers, body))
        return line, headers, body

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    started: list[RawServer] = []

    async def start(handler: Handler) -> RawServer:
        server = await RawServer(handler).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def client() -> AsyncIterator[h1.Client]:
    c = h1.Client(connect_timeout=2)
    yield c
    await c.close()


def answer(body: bytes, *, status: str = "200 OK", headers: str = "content-type: application/json\r\n") -> bytes:
    return f"HTTP/1.1 {status}\r\n{headers}content-length: {len(body)}\r\n\r\n".encode() + body


async def keep_answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
    while True:
        _, _, body = await server.read_request(reader)
        writer.write(answer(b'{"echo":%d}' % len(body)))
        await writer.drain()


async def test_request_head_and_body_go_in_one_request_and_the_connection_is_reused(servers, client) -> None:
    server = await servers(keep_answering)
    for i in range(3):
        resp = await client.request("POST", f"{server.url}/v1/chat?x={i}", {"Authorization": "Bearer k"}, b"hello")
        assert (resp.status, resp.content_type) == (200, "application/json")
        assert await resp.read_all(1, 1 << 20) == b'{"echo":5}'
    assert server.connections == 1
    line, headers, body = server.requests[2]
    assert line == "POST /v1/chat?x=2 HTTP/1.1" and body == b"hello"
    assert headers["host"] == f"127.0.0.1:{server.port}" and headers["authorization"] == "Bearer k"
    assert headers["content-length"] == "5" and headers["user-agent"] == "hubroute"


async def test_a_body_less_post_says_its_length_and_a_get_does_not(servers, client) -> None:
    server = await servers(keep_answering)
    await (await client.request("POST", server.url + "/a", {"user-agent": "mine"})).read_all(1, 100)
    await (await client.request("GET", server.url + "/b", {})).read_all(1, 100)
    (_, post, _), (_, get, _) = server.requests
    assert post["content-length"] == "0" and post["user-agent"] == "mine"
    assert "content-length" not in get


async def test_chunked_body_is_handed_over_as_it_arrives(servers, client) -> None:
    sent_second = asyncio.Event()
    go_on = asyncio.Event()

    async def stream(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"9\r\ndata: 1\n\n\r\n")
        await writer.drain()
        await go_on.wait()  # the client must have the first event before the second exists
        writer.write(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")
        await writer.drain()
        sent_second.set()
        await keep_answering(reader, writer, server)

    server = await servers(stream)
    resp = await client.request("POST", server.url, {}, b"{}")
    assert await resp.read_any(2) == b"data: 1\n\n"
    assert not resp.at_eof and resp.read_nowait() is None  # nothing more has arrived: no waiting either
    go_on.set()
    await sent_second.wait()
    for _ in range(100):  # until the client has it all
        if resp.received:
            break
        await asyncio.sleep(0.01)
    assert resp.received and not resp.at_eof  # arrived, not yet read
    assert resp.read_nowait() == b"data: 2\n\n" and resp.read_nowait() is None
    assert await resp.read_any(2) == b"" and resp.at_eof
    await (await client.request("GET", server.url, {})).read_all(1, 100)
    assert server.connections == 1  # read to its end: pooled


async def test_close_delimited_body_ends_with_the_connection(servers, client) -> None:
    async def old_style(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        await writer.drain()
        writer.close()

    server = await servers(old_style)
    resp = await client.request("GET", server.url, {})
    assert await resp.read_all(2, 100) == b"all of it"
    await (await client.request("GET", server.url, {})).read_all(2, 100)
    assert server.connections == 2


async def test_connection_close_is_honoured(servers, client) -> None:
    async def closing(reader, writer, server):
        await server.read_request(reader)
        writer.write(answer(b"{}", headers="connection: close\r\n"))
        await writer.drain()
        await reader.read()  # the client must close it

    server = await servers(closing)
    for _ in range(2):
        assert await (await client.request("GET", server.url, {})).read_all(2, 100) == b"{}"
    assert server.connections == 2


async def test_a_pooled_connection_the_server_closed_is_replaced_and_the_request_sent_once(servers, client) -> None:
    async def one_per_connection(reader, writer, server):
        await server.read_request(reader)
        writer.write(answer(b"{}"))  # keep-alive, then closes: as servers do after their idle timeout
        await writer.drain()

    server = await servers(one_per_connection)
    await (await client.request("POST", server.url, {}, b"1")).read_all(2, 100)
    await asyncio.sleep(0.05)  # the close has arrived: the pooled connection is known dead
    await (await client.request("POST", server.url, {}, b"2")).read_all(2, 100)
    assert server.connections == 2 and [b for *_, b in server.requests] == [b"1", b"2"]


async def test_a_request_racing_the_servers_close_is_sent_again_once(servers, client) -> None:
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
    await (await client.request("POST", server.url, {}, b"1")).read_all(2, 100)
    resp = await client.request("POST", server.url, {}, b"2")  # on the pooled connection, which dies
    assert await resp.read_all(2, 100) == b"{}"
    assert server.connections == 2 and [b for *_, b in server.requests] == [b"1", b"2"]


async def test_a_fresh_connection_closed_unanswered_is_an_error_not_a_retry(servers, client) -> None:
    async def hang_up(reader, writer, server):
        await server.read_request(reader)

    server = await servers(hang_up)
    with pytest.raises(h1.H1ConnectionError, match="closed the connection before answering"):
        await client.request("POST", server.url, {}, b"{}")
    assert len(server.requests) == 1


async def test_a_body_cut_short_is_an_error(servers, client) -> None:
    async def cut(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
        await writer.drain()

    server = await servers(cut)
    resp = await client.request("GET", server.url, {})
    assert await resp.read_any(2) == b"only this"
    with pytest.raises(h1.H1ConnectionError, match="closed by the server"):
        await resp.read_any(2)


async def test_silence_after_the_head_is_an_idle_timeout(servers, client) -> None:
    async def stall(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    server = await servers(stall)
    resp = await client.request("GET", server.url, {})
    with pytest.raises(TimeoutError):
        await resp.read_any(0.2)
    resp.close()


async def test_refused_connection_names_host_and_reason(client) -> None:
    port = free_port()
    with pytest.raises(h1.H1ConnectError) as caught:
        await client.request("GET", f"http://127.0.0.1:{port}/x", {})
    assert (caught.value.host, caught.value.port) == ("127.0.0.1", port)
    assert "refused" in caught.value.reason.lower()


async def test_interim_answers_are_skipped(servers, client) -> None:
    async def with_continue(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b'{"ok":true}'))
        await writer.drain()
        await keep_answering(reader, writer, server)

    server = await servers(with_continue)
    resp = await client.request("POST", server.url, {}, b"{}")
    assert resp.status == 200 and await resp.read_all(2, 100) == b'{"ok":true}'


async def test_gzip_bodies_are_decoded_a_bounded_piece_at_a_time(servers, client) -> None:
    payload = b'{"text": "' + b"compressible " * 1_000_000 + b'"}'  # 13 MB from ~40 KB on the wire

    async def gzipped(reader, writer, server):
        await server.read_request(reader)
        writer.write(answer(gzip.compress(payload), headers="content-encoding: gzip\r\n"))
        await writer.drain()
        await keep_answering(reader, writer, server)

    server = await servers(gzipped)
    resp = await client.request("GET", server.url, {})
    assert resp.read_nowait() is None  # a compressed body is only read through the decoder
    pieces = []
    while piece := await resp.read_any(2):
        pieces.append(piece)
    assert b"".join(pieces) == payload and max(map(len, pieces)) <= h1._HIGH_WATER
    await (await client.request("GET", server.url, {})).read_all(2, 100)
    assert server.connections == 1


async def test_garbage_is_not_http(servers, client) -> None:
    async def garbage(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    server = await servers(garbage)
    with pytest.raises(h1.H1ConnectionError, match="invalid HTTP response"):
        await client.request("GET", server.url, {})


async def test_an_answer_over_the_limit_is_refused_and_its_connection_closed(servers, client) -> None:
    server = await servers(lambda r, w, s: _big(r, w, s, 300_000))
    resp = await client.request("GET", server.url, {})
    assert await resp.read_all(2, 100_000) is None
    await (await client.request("GET", server.url, {})).read_all(2, 1 << 20)
    assert server.connections == 2


async def _big(reader, writer, server, size: int) -> None:
    while True:
        await server.read_request(reader)
        writer.write(answer(b"x" * size))
        await writer.drain()


async def test_an_unread_body_stops_the_reading_past_the_high_water_mark(servers, client) -> None:
    total = 16 << 20
    server = await servers(lambda r, w, s: _big(r, w, s, total))
    resp = await client.request("GET", server.url, {})
    await asyncio.sleep(0.3)  # the server writes as fast as it can; nobody reads
    conn = resp._conn
    assert conn is not None and conn.paused and conn.buffered < 2 * h1._HIGH_WATER
    got = 0
    while data := await resp.read_any(2):
        got += len(data)
    assert got == total


async def test_header_injection_is_refused(client) -> None:
    with pytest.raises(ValueError, match="invalid character"):
        await client.request("GET", "http://127.0.0.1:1/", {"x-evil": "a\r\nhost: elsewhere"})


async def test_an_answer_dropped_unread_closes_its_connection(servers, client) -> None:
    closed = asyncio.Event()

    async def slow_stream(reader, writer, server):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await reader.read()  # until the client closes the connection
        closed.set()

    server = await servers(slow_stream)
    resp = await client.request("GET", server.url, {})
    assert await resp.read_any(2) == b"first"
    del resp
    gc.collect()
    await asyncio.wait_for(closed.wait(), 2)


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `name`: a client context that trusts it, a server's that has it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    return ssl.create_default_context(cafile=str(cert)), server_ctx


async def test_tls(tmp_path: Path) -> None:
    trusting, server_ctx = _certificate(tmp_path, "localhost")
    server = await RawServer(keep_answering).start(server_ctx)
    c = h1.Client(connect_timeout=2, ssl_context=trusting)
    try:
        url = f"https://localhost:{server.port}/v1/x"
        for _ in range(2):
            assert await (await c.request("POST", url, {}, b"abc")).read_all(2, 100) == b'{"echo":3}'
        assert server.connections == 1 and server.requests[0][1]["host"] == f"localhost:{server.port}"
        untrusting = h1.Client(connect_timeout=2)  # the system's CAs do not know this certificate
        with pytest.raises(h1.H1ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await untrusting.request("GET", url, {})
        await untrusting.close()
    finally:
        await c.close()
        await server.close()


async def test_a_connection_not_made_in_time_is_a_connect_timeout() -> None:
    listener = listening_socket(0)  # never accepts: once its queue is full, the kernel drops further SYNs
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        await asyncio.sleep(0.05)
        c = h1.Client(connect_timeout=0.3)
        started = asyncio.get_running_loop().time()
        with pytest.raises(h1.H1ConnectTimeout, match=r"timed out after 0\.3s"):
            await c.request("GET", f"http://127.0.0.1:{port}/", {})
        assert asyncio.get_running_loop().time() - started < 2
        await c.close()
    finally:
        for s in fillers:
            s.close()
        listener.close()


class Proxy:
    """An HTTP proxy: CONNECT tunnels, and absolute-form requests forwarded in origin form. It
    resolves `origin.test` to 127.0.0.1 (loopback itself is never proxied): only the proxy needs
    to know that name, as with a real proxy. It reads only a connection's first request; what
    follows is piped as it comes."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.seen: list[tuple[str, dict[str, str]]] = []  # request line, headers
        self.server: asyncio.Server | None = None

    async def start(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, sock=listening_socket())
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://user:p%40ss@127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            line, *fields = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if f)}
            self.seen.append((line, headers))
            method, target, _ = line.split(" ")
            if self.refuse:
                writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                return
            if method == "CONNECT":
                hostport, rest = target, b""
            else:  # http://host:port/path -> /path, sent to host:port
                hostport, _, path = target.removeprefix("http://").partition("/")
                rest = head.replace(target, "/" + path, 1).encode()
            host, port = hostport.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1" if host == "origin.test" else host, int(port))
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            up_writer.write(rest)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    p = await Proxy().start()
    yield p
    await p.close()


async def test_plain_requests_go_to_the_proxy_in_absolute_form_with_its_credentials(servers, proxy) -> None:
    origin = await servers(keep_answering)
    c = h1.Client(connect_timeout=2, proxies={"http": proxy.url})
    try:
        for _ in range(2):
            resp = await c.request("POST", f"http://origin.test:{origin.port}/v1/chat?x=1", {}, b"abc")
            assert await resp.read_all(2, 100) == b'{"echo":3}'
        line, headers = proxy.seen[0]
        assert line == f"POST http://origin.test:{origin.port}/v1/chat?x=1 HTTP/1.1"
        assert headers["proxy-authorization"] == "Basic dXNlcjpwQHNz"  # user:p@ss
        assert origin.requests[0][0] == "POST /v1/chat?x=1 HTTP/1.1"
        assert origin.requests[0][1]["host"] == f"origin.test:{origin.port}"
        assert len(origin.requests) == 2 and len(proxy.seen) == 1  # the connection to the proxy was reused
    finally:
        await c.close()


async def test_https_goes_through_a_connect_tunnel_with_tls_end_to_end(tmp_path: Path, proxy) -> None:
    trusting, server_ctx = _certificate(tmp_path, "origin.test")
    origin = await RawServer(keep_answering).start(server_ctx)
    c = h1.Client(connect_timeout=2, ssl_context=trusting, proxies={"https": proxy.url})
    try:
        resp = await c.request("POST", f"https://origin.test:{origin.port}/v1/x", {}, b"abcd")
        assert await resp.read_all(2, 100) == b'{"echo":4}'
        line, headers = proxy.seen[0]
        assert line == f"CONNECT origin.test:{origin.port} HTTP/1.1"
        assert headers["proxy-authorization"] == "Basic dXNlcjpwQHNz"
        assert origin.requests[0][1]["host"] == f"origin.test:{origin.port}"  # the proxy saw no HTTP
    finally:
        await c.close()
        await origin.close()


async def test_no_proxy_and_loopback_go_direct(servers, proxy) -> None:
    origin = await servers(keep_answering)
    c = h1.Client(connect_timeout=2, proxies={"http": proxy.url, "no": "example.org,.test"})
    try:
        await (await c.request("GET", f"http://127.0.0.1:{origin.port}/", {})).read_all(2, 100)
        with pytest.raises(h1.H1ConnectError) as caught:  # bypassed: resolved here, where it is unknown
            await c.request("GET", f"http://origin.test:{origin.port}/", {})
        assert "proxy" not in caught.value.reason
        assert proxy.seen == []
    finally:
        await c.close()


async def test_a_tunnel_the_proxy_refuses_is_a_connect_error_naming_it(proxy) -> None:
    proxy.refuse = True
    c = h1.Client(connect_timeout=2, proxies={"https": proxy.url})
    try:
        with pytest.raises(h1.H1ConnectError, match=r"refused the tunnel: HTTP/1\.1 403 Forbidden"):
            await c.request("GET", "https://origin.test:443/", {})
    finally:
        await c.close()


def test_only_http_proxies_are_taken() -> None:
    c = h1.Client(proxies={"https": "socks5://127.0.0.1:1080"})
    with pytest.raises(ValueError, match="only http:// proxies"):
        c._target("https://example.org/")


async def test_the_transport_takes_its_proxy_from_the_environment(servers, proxy, monkeypatch) -> None:
    origin = await servers(keep_answering)
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    transport = Transport(connect_timeout=2)
    try:
        reply = await transport.fetch(HttpRequest("POST", f"http://origin.test:{origin.port}/x", {}, b"ab"),
                                      "p", Timeouts(2, 2, 2), 100)
        assert reply.body == b'{"echo":2}' and proxy.seen[0][0].startswith("POST http://origin.test:")
    finally:
        await transport.close()


async def test_a_head_not_there_in_time_is_a_timeout_and_the_connection_is_dropped(servers, client) -> None:
    async def silent(reader, writer, server):
        await server.read_request(reader)
        await asyncio.sleep(5)

    server = await servers(silent)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await client.request("POST", server.url, {}, b"{}", head_timeout=0.2)
    assert 0.15 < asyncio.get_running_loop().time() - started < 1.5
    assert not any(origin.idle for origin in client._origins.values())  # not pooled: its answer may still come


async def test_a_connection_idle_past_the_pool_timeout_is_not_reused_before_the_sweep_runs(servers) -> None:
    """The pool's expiry holds when a request takes a connection, not only when the sweep runs."""
    server = await servers(keep_answering)
    client = h1.Client(connect_timeout=2, pool_idle=0.2)
    try:
        await (await client.request("POST", server.url + "/a", {}, b"x")).read_all(1, 100)
        assert client._sweep is not None
        client._sweep.cancel()  # (the sweep late: only the pool's pick sees the expiry)
        client._sweep = None
        stale = next(iter(client._origins.values())).idle[0]
        await asyncio.sleep(0.3)
        await (await client.request("POST", server.url + "/b", {}, b"x")).read_all(1, 100)
        assert server.connections == 2 and not stale.alive
    finally:
        await client.close()


async def test_connections_idle_past_the_pool_timeout_are_closed_without_another_request(servers) -> None:
    server = await servers(keep_answering)
    client = h1.Client(connect_timeout=2, pool_idle=0.3)
    try:
        for _ in range(2):  # within the timeout: one connection, reused
            await (await client.request("POST", server.url + "/a", {}, b"x")).read_all(1, 100)
            await asyncio.sleep(0.1)
        assert server.connections == 1
        origin = next(iter(client._origins.values()))
        assert len(origin.idle) == 1
        conn = origin.idle[0]
        await asyncio.sleep(0.6)  # no request meanwhile: the sweep closes it
        assert not origin.idle and not conn.alive
        await (await client.request("POST", server.url + "/b", {}, b"x")).read_all(1, 100)
        assert server.connections == 2
    finally:
        await client.close()
    assert client._sweep is None
