"""A lean HTTP/1.1 client for the router's hot path: pooled keep-alive connections, llhttp's parser.

The router spends most of a proxied request in its HTTP client (bench/: aiohttp's request building
and response machinery were ~35% of a streamed request's CPU). This client does only what a router
needs on that path, and does it in the event loop's thread with no per-request task:

* a request is one `transport.write` (head and body together), on a pooled connection;
* the response is parsed by llhttp (`httptools`, the parser uvicorn uses), its body handed over in
  the pieces the network delivered, with flow control (reading pauses past `_HIGH_WATER` bytes);
* a connection goes back to the pool when its response was read to the end and both sides allow
  keep-alive; a request that found its pooled connection closed by the server before any answer
  is sent again once on a new connection (the server never saw it).

Outbound proxies are taken from the usual environment variables (`HTTPS_PROXY`, `HTTP_PROXY`,
`NO_PROXY`, as curl, requests and httpx read them): an `http://` proxy, with credentials in its URL
if it needs them; https origins are reached through a CONNECT tunnel, so TLS stays end to end.
Loopback hosts are always reached directly.

Not here (`transport_aiohttp` sends them through aiohttp): redirects, streamed request bodies.
Responses are decompressed when a server sends gzip or deflate although none was asked for.

Errors: `H1ConnectError` (could not connect; `H1ConnectTimeout`, not within the connect timeout),
`H1ConnectionError` (the connection broke; `H1ProtocolError`, the answer was not HTTP), `TimeoutError` (silence
longer than the idle timeout while reading a body). transport.py maps them to `ProviderError`s.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import socket
import ssl
import time
import urllib.request
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohappyeyeballs
import httptools
from multidict import CIMultiDict, CIMultiDictProxy

#: past this many unread body bytes the connection stops reading until the reader catches up
_HIGH_WATER = 1 << 20
#: bodies larger than this are written after the head rather than joined to it
_JOIN_LIMIT = 1 << 16
#: never reached through a proxy (a local vLLM or Ollama is not behind the office's proxy)
_LOOPBACK = frozenset(("localhost", "::1"))


class H1Error(Exception):
    pass


class H1ConnectError(H1Error):
    """The connection could not be made."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"{host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


class H1ConnectTimeout(H1ConnectError):
    """The connection was not made within the connect timeout."""


class H1ConnectionError(H1Error):
    """The connection broke, or the peer did not speak HTTP/1.1."""


class H1ProtocolError(H1ConnectionError):
    """The peer answered, but not in HTTP/1.1 as we read it: no status line, a broken chunk, an
    encoding we do not know or cannot inflate."""


class Proxy:
    """An `http://` proxy (credentials, if any, from its URL)."""

    __slots__ = ("auth", "host", "port")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"unsupported proxy {parts.scheme}://{parts.hostname}: only http:// proxies are")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.auth: str | None = None
        if parts.username:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.auth = "Basic " + base64.b64encode(credentials.encode()).decode()


class _Origin:
    """Where a URL's requests go: one pool of connections per scheme, host and port."""

    __slots__ = ("authority", "host", "host_header", "idle", "port", "proxy", "ssl")

    def __init__(self, scheme: str, host: str, port: int | None, proxy: Proxy | None) -> None:
        self.host = host
        default = 443 if scheme == "https" else 80
        self.port = port or default
        shown = f"[{host}]" if ":" in host else host
        self.host_header = shown if self.port == default else f"{shown}:{self.port}"
        self.authority = f"{shown}:{self.port}"
        self.ssl = scheme == "https"
        self.proxy = proxy
        self.idle: collections.deque[_Connection] = collections.deque()


class Body:
    """A response body read as it arrives (`read_any`) or whole (`read_all`)."""

    __slots__ = ()

    async def read_any(self, idle: float) -> bytes:
        raise NotImplementedError

    def read_nowait(self) -> bytes | None:
        """Body bytes that have already arrived, without waiting; None when there are none (or the
        body cannot tell): then `read_any`."""
        return None

    def close(self) -> None:
        raise NotImplementedError

    async def read_all(self, idle: float, limit: int) -> bytes | None:
        """The whole body, or None when it is larger than `limit` bytes (the connection is closed)."""
        parts: list[bytes] = []
        size = 0
        while data := await self.read_any(idle):
            size += len(data)
            if size > limit:
                self.close()
                return None
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class Response(Body):
    """An answer whose head has arrived; its body is read with `read_any()` / `read_all()`."""

    __slots__ = ("_conn", "_decoder", "_owner", "headers", "status")

    def __init__(self, conn: _Connection, owner: Client, status: int, headers: CIMultiDict[str]) -> None:
        self._conn: _Connection | None = conn
        self._owner = owner
        self.status = status
        self.headers = CIMultiDictProxy(headers)
        encoding = headers.get("content-encoding", "").strip().lower()
        self._decoder: Any = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # a gzip or zlib header, detected
        elif encoding not in ("", "identity"):
            raise H1ProtocolError(f"unsupported content-encoding {encoding!r}")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    @property
    def at_eof(self) -> bool:
        """The whole body has arrived and been read."""
        conn = self._conn
        return conn is None or (conn.complete and not conn.body)

    @property
    def received(self) -> bool:
        """The whole body has arrived (read or not)."""
        conn = self._conn
        return conn is None or conn.complete

    def read_nowait(self) -> bytes | None:
        conn = self._conn
        if conn is None or self._decoder is not None or not conn.body:
            return None
        return conn.take()

    async def read_any(self, idle: float) -> bytes:
        """The body bytes that have arrived (waiting up to `idle` seconds for some), b"" at its end."""
        conn = self._conn
        if conn is None:
            return b""
        while True:
            decoder = self._decoder
            pending = decoder is not None and decoder.unconsumed_tail
            if not pending and not conn.body and not conn.complete:
                await conn.wait_body(idle)
            data = conn.take()
            if decoder is not None:
                try:  # inflated a bounded piece at a time: a small body may expand a thousandfold
                    if pending:
                        data = decoder.unconsumed_tail + data
                    data = decoder.decompress(data, _HIGH_WATER) if data else decoder.flush()
                except zlib.error as exc:
                    self.close()
                    raise H1ProtocolError(f"invalid compressed body: {exc}") from None
                if not data and not conn.complete:
                    continue
            if data:
                return data
            self.release()
            return b""

    def release(self) -> None:
        """Done with the answer: a connection whose response was read to its end is pooled, any
        other is closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._owner._put_back(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __del__(self) -> None:
        # an answer dropped unread must not keep its socket open
        conn = self._conn
        if conn is not None:
            conn.close()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time."""

    def __init__(self, origin: _Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        #: the current response's body pieces, as llhttp hands them over (one list for the
        #: connection's life: the parser appends to it directly, with no Python call per piece)
        self.body: list[bytes] = []
        self.on_body = self.body.append
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self.received = False  # any byte of the current response
        self.paused = False
        # the current response
        self.head: asyncio.Future[None] | None = None
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.status = 0
        self.buffered = 0  # bytes received since the reader last took the body (framing included)
        self.complete = False
        self.keep_alive = False
        self.waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(H1ProtocolError("the server switched protocols"))
            return
        except httptools.HttpParserError as exc:
            self._fail(H1ProtocolError(f"invalid HTTP response: {exc}"))
            return
        if self.body:
            self.buffered += len(data)
            if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
            self._wake()

    def eof_received(self) -> bool:
        self._end_of_connection()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end_of_connection()
        if not self.complete:
            self._fail(H1ConnectionError(
                f"connection closed by the server{f': {exc}' if exc else ''}"
                if self.received or self.head is None else "server closed the connection before answering"
            ))

    # --- llhttp callbacks ----------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self.headers = CIMultiDict()
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        if self.head is not None and not self.head.done():
            self.head.set_result(None)

    def on_message_complete(self) -> None:
        if self.status == 0:  # the end of an interim answer
            return
        self.complete = True
        self._wake()

    # --- the current response -------------------------------------------------------------------
    def _end_of_connection(self) -> None:
        """HTTP/1.0-style bodies end with the connection: llhttp cannot see that end by itself."""
        if self.complete or self.head is None or not self.head.done():
            return
        h = self.headers
        if "content-length" not in h and "chunked" not in h.get("transfer-encoding", "").lower():
            self.on_message_complete()

    @property
    def alive(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.head is not None and not self.head.done():
            self.head.set_exception(exc)
        self._wake()
        self.close()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait_body(self, idle: float) -> None:
        if self.error is not None:
            raise self.error
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(idle, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
        if self.error is not None and not self.body:
            raise self.error

    def take(self) -> bytes:
        body = self.body
        if not body:
            if self.error is not None and not self.complete:
                raise self.error
            return b""
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def send(self, head: bytes, body: bytes | None) -> asyncio.Future[None]:
        """Write a request; the future resolves when its answer's head has arrived."""
        assert self.transport is not None
        self.received = False
        self.head = self.loop.create_future()
        self.headers = CIMultiDict()
        self.status = 0
        self.body.clear()
        self.buffered = 0
        self.complete = False
        if body is None:
            self.transport.write(head)
        elif len(body) <= _JOIN_LIMIT:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        return self.head

    def reusable(self) -> bool:
        return self.alive and self.complete and not self.body and self.keep_alive and self.error is None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def _tunnel(loop: asyncio.AbstractEventLoop, sock: socket.socket, origin: _Origin, proxy: Proxy) -> None:
    """Ask the proxy for a tunnel to the origin (CONNECT); TLS then runs through it."""
    head = f"CONNECT {origin.authority} HTTP/1.1\r\nhost: {origin.authority}\r\n"
    if proxy.auth:
        head += f"proxy-authorization: {proxy.auth}\r\n"
    await loop.sock_sendall(sock, (head + "\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:  # the proxy says nothing more until the client speaks
        data = await loop.sock_recv(sock, 4096)
        if not data or len(answer) > 65536:
            raise H1ConnectError(origin.host, origin.port, f"proxy {proxy.host}:{proxy.port} closed the tunnel")
        answer += data
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if status.split(" ", 2)[1:2] != ["200"]:
        raise H1ConnectError(origin.host, origin.port, f"proxy {proxy.host}:{proxy.port} refused the tunnel: {status}")


def environment_proxies() -> dict[str, str]:
    """The proxies the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, either case)."""
    return urllib.request.getproxies_environment()


def proxy_url(proxies: Mapping[str, str], scheme: str, host: str) -> str | None:
    """The proxy a request to `scheme://host` goes through, or None: direct. `proxies` as
    `environment_proxies()` reads them; loopback hosts are always reached directly."""
    url = proxies.get(scheme)
    if not url or host in _LOOPBACK or host.startswith("127."):
        return None
    # NO_PROXY as urllib reads it: names, .domains, host:port, `*`
    if urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return url


def os_reason(exc: OSError) -> str:
    """Why a connection could not be made, as a person reads it ("Connection refused")."""
    if isinstance(exc, socket.gaierror) and exc.strerror:  # a name lookup's own numbering
        return exc.strerror
    return os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Client:
    """Pooled HTTP/1.1 connections per origin. One per router process; not thread-safe."""

    def __init__(self, *, connect_timeout: float = 10.0, pool_idle: float = 60.0, max_idle_per_origin: int = 100,
                 user_agent: str = "hubroute", ssl_context: ssl.SSLContext | None = None,
                 proxies: Mapping[str, str] | None = None) -> None:
        """`proxies`: {"http": url, "https": url, "no": "host,.domain"}, as `environment_proxies()`
        reads them."""
        self._connect_timeout = connect_timeout
        self._proxies = dict(proxies or {})
        self._pool_idle = pool_idle
        self._max_idle = max_idle_per_origin
        self._user_agent = user_agent
        self._ssl = ssl_context
        self._origins: dict[tuple[str, str, int | None], _Origin] = {}
        self._urls: dict[str, tuple[_Origin, str]] = {}
        self._heads: dict[tuple[str, str, _Origin, tuple[tuple[str, str], ...]], bytes] = {}
        self._closed = False
        #: the next sweep of the idle connections, while any are pooled
        self._sweep: asyncio.TimerHandle | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _target(self, url: str) -> tuple[_Origin, str]:
        found = self._urls.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        key = (parts.scheme, parts.hostname, parts.port)
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(parts.scheme, parts.hostname, parts.port,
                                                  self._proxy_for(parts.scheme, parts.hostname))
        path = parts.path or "/"
        target = f"{path}?{parts.query}" if parts.query else path
        if origin.proxy is not None and not origin.ssl:  # a plain request to a proxy names the whole URL
            target = f"http://{origin.host_header}{target}"
        found = (origin, target)
        if len(self._urls) < 4096:  # provider URLs repeat; a URL per request (ids in it) is not kept
            self._urls[url] = found
        return found

    def _proxy_for(self, scheme: str, host: str) -> Proxy | None:
        url = proxy_url(self._proxies, scheme, host)
        return None if url is None else Proxy(url)

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None = None, *,
                      connect_timeout: float | None = None, head_timeout: float | None = None) -> Response:
        """Send a request and wait for its answer's head: a new connection within `connect_timeout`
        (default: the client's), the head within `head_timeout` (default: unbounded, the caller's)."""
        if self._closed:
            raise H1ConnectionError("client closed")
        origin, target = self._target(url)
        head = self._head(method, target, origin, headers, body)
        conn = self._idle_connection(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, head, body, head_timeout)
            except H1ConnectionError:
                if conn.received:
                    raise
                # The server had closed the pooled connection before it read this request (an idle
                # connection closed as it was reused): send it once more, on a new connection.
        conn = await self._connect(origin, self._connect_timeout if connect_timeout is None else connect_timeout)
        return await self._exchange(conn, head, body, head_timeout)

    async def _exchange(self, conn: _Connection, head: bytes, body: bytes | None, within: float | None) -> Response:
        try:
            answered = conn.send(head, body)
            if within is None:
                await answered
            else:  # a timer on the future: cheaper than a cancelling timeout scope around the await
                timer = conn.loop.call_later(within, _expire, answered)
                try:
                    await answered
                finally:
                    timer.cancel()
            return Response(conn, self, conn.status, conn.headers)
        except BaseException:
            conn.close()
            raise

    def _head(self, method: str, target: str, origin: _Origin, headers: dict[str, str], body: bytes | None) -> bytes:
        # A provider's requests repeat their request line and headers: each distinct set is built and
        # checked once (bounded: headers that vary per request only cost the cache its hits).
        key = (method, target, origin, tuple(headers.items()))
        lines = self._heads.get(key)
        if lines is None:
            lines = self._head_lines(method, target, origin, headers)
            if len(self._heads) >= 1024:
                self._heads.clear()
            self._heads[key] = lines
        if body is not None:
            return b"%scontent-length: %d\r\n\r\n" % (lines, len(body))
        if method in ("POST", "PUT", "PATCH"):
            return lines + b"content-length: 0\r\n\r\n"
        return lines + b"\r\n"

    def _head_lines(self, method: str, target: str, origin: _Origin, headers: dict[str, str]) -> bytes:
        """The request line and headers, but for the body's length and the blank line."""
        lines = [f"{method} {target} HTTP/1.1\r\nhost: {origin.host_header}\r\n"]
        has_agent = False
        for name, value in headers.items():
            if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
                raise ValueError(f"invalid character in header {name!r}")
            lower = name.lower()
            if lower in ("host", "content-length", "transfer-encoding", "connection"):
                continue
            has_agent = has_agent or lower == "user-agent"
            lines.append(f"{name}: {value}\r\n")
        if not has_agent:
            lines.append(f"user-agent: {self._user_agent}\r\n")
        if origin.proxy is not None and origin.proxy.auth and not origin.ssl:
            lines.append(f"proxy-authorization: {origin.proxy.auth}\r\n")
        return "".join(lines).encode()

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = origin.idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have been closed
            if not conn.alive:
                continue
            if self._expired(conn, now):
                conn.close()
                continue
            return conn
        return None

    def _expired(self, conn: _Connection, now: float) -> bool:
        """Whether an idle connection has waited `pool_idle` seconds: closed, never reused."""
        return now - conn.idle_since >= self._pool_idle

    async def _connect(self, origin: _Origin, within: float) -> _Connection:
        """A new connection, within the connect timeout: the host's addresses raced as RFC 8305
        says (an IPv6 address that does not answer costs 250 ms, not the whole timeout), then TLS."""
        loop = asyncio.get_running_loop()
        sock: socket.socket | None = None
        proxy = origin.proxy
        try:
            async with asyncio.timeout(within):
                host, port = (proxy.host, proxy.port) if proxy is not None else (origin.host, origin.port)
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                sock = await aiohappyeyeballs.start_connection(infos, happy_eyeballs_delay=0.25, interleave=1)
                if proxy is not None and origin.ssl:
                    await _tunnel(loop, sock, origin, proxy)
                _, conn = await loop.create_connection(
                    lambda: _Connection(origin, loop), sock=sock,
                    ssl=self._ssl_context() if origin.ssl else None,
                    server_hostname=origin.host if origin.ssl else None,
                )
            return conn
        except BaseException as exc:
            if sock is not None:
                sock.close()
            if isinstance(exc, TimeoutError):
                raise H1ConnectTimeout(origin.host, origin.port, f"timed out after {within:g}s") from None
            if isinstance(exc, ssl.SSLError):
                raise H1ConnectError(origin.host, origin.port, f"TLS: {exc.reason or exc}") from exc
            if isinstance(exc, OSError):
                reason = os_reason(exc)
                if proxy is not None:
                    reason = f"proxy {proxy.host}:{proxy.port}: {reason}"
                raise H1ConnectError(origin.host, origin.port, reason) from exc
            raise

    def _put_back(self, conn: _Connection) -> None:
        if self._closed or not conn.reusable():
            conn.close()
            return
        idle = conn.origin.idle
        if len(idle) >= self._max_idle:
            idle.popleft().close()
        conn.idle_since = time.monotonic()
        conn.head = None
        idle.append(conn)
        if self._sweep is None:
            self._sweep = conn.loop.call_later(self._pool_idle, self._sweep_idle)

    def _sweep_idle(self) -> None:
        """Close the connections idle for longer than `pool_idle` (a router left without requests
        keeps none open for ever); again when the oldest left would expire, while any are left."""
        self._sweep = None
        now = time.monotonic()
        oldest: float | None = None
        for origin in self._origins.values():
            idle = origin.idle  # (oldest first: connections are put back at its end)
            while idle and self._expired(idle[0], now):
                idle.popleft().close()
            if idle:
                oldest = idle[0].idle_since if oldest is None else min(oldest, idle[0].idle_since)
        if oldest is not None and not self._closed:
            self._sweep = asyncio.get_running_loop().call_later(oldest + self._pool_idle - now, self._sweep_idle)

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()
        await asyncio.sleep(0)  # let the transports' close callbacks run
