"""The only module that does network I/O: pooled HTTP clients, timeouts, SSE reading.

Two verbs, each on the client measured fastest for it on this router's workload (bench/):

    fetch(req)  a whole answer (non-streamed chat, Hub look-ups): pyreqwest, Rust's hyper under a thin
                binding; 20-35% more proxied requests/s than aiohttp here, and ~50 µs less latency
    open(req)   an event stream: aiohttp, whose buffered reads hand over every event that arrived in
                one go (pyreqwest yields one HTTP chunk per await, a thread hop each: 40% slower here).
                Beware when measuring pyreqwest streams: `build_streamed()` reads the body ahead up
                to a buffer limit before it hands over the headers, so a short stream arrives whole
                and looks twice as fast; with `streamed_read_buffer_limit(0)` (real streaming) it was
                no faster than aiohttp (2026-11-22)

httpx was 2-3x slower than either. Every failure leaves as a `ProviderError` subclass:

    could not connect / connection dropped  -> ProviderConnectionError
    connect, first-byte or idle timeout     -> ProviderTimeout
    answer larger than the limit            -> ProviderResponseError
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from pyreqwest import exceptions as rq
from pyreqwest.client import Client, ClientBuilder

from hubroute.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeout,
)
from hubroute.inputs.decode import Binary
from hubroute.inputs.spool import blob_bytes

if TYPE_CHECKING:
    from hubroute.providers import HttpRequest


@dataclass(slots=True, frozen=True)
class Timeouts:
    connect: float = 10.0
    #: until the response headers (and, for streams, the first event) arrive
    first_byte: float = 60.0
    #: longest silence between two reads of a body or stream
    idle: float = 120.0


@dataclass(slots=True)
class SSEEvent:
    data: bytes
    event: str | None = None


class UpstreamResponse:
    """An open upstream response. Read it whole with `read()`, or as events with `event_batches()`."""

    __slots__ = ("_resp", "headers", "provider", "started", "status")

    def __init__(self, resp: aiohttp.ClientResponse, provider: str, started: float) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers
        self.provider = provider
        self.started = started

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been received."""
        return self._resp.content.at_eof()

    async def read(self, limit: int) -> bytes:
        """The whole body, at most `limit` bytes; releases the response."""
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.chunks():
                size += len(chunk)
                if size > limit:
                    raise ProviderResponseError(
                        f"{self.provider} answered more than {limit} bytes",
                        provider=self.provider, status_code=self.status,
                    )
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            self._resp.release()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, in whatever pieces the network delivers."""
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(f"{self.provider} went silent while answering", provider=self.provider) from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(
                f"{self.provider} connection broke while answering: {exc.__class__.__name__}", provider=self.provider
            ) from exc

    async def event_batches(self) -> AsyncGenerator[SSEBatch, None]:
        """Server-sent events as they arrive, grouped by network read: every complete event that one
        read delivered comes in one batch, so the relay can forward them in one write. Tolerates
        `data:x` without the space and CRLF / CR line ends."""
        buffer = b""
        async for chunk in self.chunks():
            buffer += chunk
            end = _last_event_end(buffer)
            if end:
                events = parse_sse(buffer[:end])
                buffer = buffer[end:]
                if events:
                    yield events
        if buffer.strip():
            events = parse_sse(buffer)
            if events:
                yield events

    async def close(self) -> None:
        """Drop the response; an unread body closes its connection."""
        self._resp.close()

    async def release(self) -> None:
        """Done with the response: a body read to its end returns its connection to the pool."""
        self._resp.release()


@dataclass(slots=True)
class Reply:
    """A whole upstream answer."""

    provider: str
    status: int
    headers: Any  # a case-insensitive mapping
    content_type: str
    body: bytes
    started: float
    #: seconds until the response headers arrived
    ttfb: float


_FETCH_READ = 64 * 1024


class Transport:
    """The pooled HTTP clients shared by every request of one router process (or one client)."""

    def __init__(self, *, max_connections: int = 0, connect_timeout: float = 10.0, idle_timeout: float = 120.0,
                 user_agent: str = "hubroute") -> None:
        self._max_connections = max_connections
        self._connect = connect_timeout
        self._idle = idle_timeout
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            builder = (
                ClientBuilder()
                .connect_timeout(timedelta(seconds=self._connect))
                .read_timeout(timedelta(seconds=self._idle))
                .pool_idle_timeout(timedelta(seconds=60))
                .follow_redirects(False)
                .user_agent(self._user_agent)
                .gzip(True)
            )
            if self._max_connections:
                builder = builder.max_connections(self._max_connections)
            self._client = builder.build()
        return self._client

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"user-agent": self._user_agent},
                auto_decompress=True,
                # a router keeps no cookies: one provider's Set-Cookie must not follow another
                # user's request (and skipping the jar saves work on every request)
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("accept-encoding",),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def fetch(self, req: HttpRequest, provider: str, timeouts: Timeouts, limit: int) -> Reply:
        """Send `req` and read its whole answer, at most `limit` bytes, within the first-byte timeout.

        HTTP error statuses are returned, not raised: the caller decides what they mean.
        """
        started = time.perf_counter()
        builder = self.client.request(req.method, req.url).headers(req.headers)
        if req.body is not None:
            builder = builder.body_bytes(req.body if isinstance(req.body, bytes) else blob_bytes(req.body))
        request = builder.build_streamed()  # streamed, so that the size limit holds while reading
        try:
            async with asyncio.timeout(timeouts.first_byte):
                resp = await request.__aenter__()
                try:
                    ttfb = time.perf_counter() - started
                    reader = resp.body_reader
                    first = await reader.read(_FETCH_READ)
                    body = b"" if first is None else bytes(first)
                    if len(body) == _FETCH_READ:  # more may follow
                        chunks, size = [body], len(body)
                        while (chunk := await reader.read(_FETCH_READ)) is not None:
                            size += len(chunk)
                            if size > limit:
                                raise ProviderResponseError(
                                    f"{provider} answered more than {limit} bytes", provider=provider,
                                    status_code=resp.status,
                                )
                            chunks.append(bytes(chunk))
                        body = b"".join(chunks)
                finally:
                    await request.__aexit__(None, None, None)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{provider} did not answer within {timeouts.first_byte:g}s", provider=provider
            ) from exc
        except rq.ConnectTimeoutError as exc:
            raise ProviderTimeout(f"{provider}: connecting timed out", provider=provider) from exc
        except rq.RequestTimeoutError as exc:
            raise ProviderTimeout(f"{provider} went silent while answering", provider=provider) from exc
        except rq.ConnectError as exc:
            raise ProviderConnectionError(f"could not connect to {provider}: {_cause(exc)}", provider=provider) \
                from exc
        except rq.RequestError as exc:
            raise ProviderConnectionError(
                f"{provider} connection failed: {exc.__class__.__name__}: {_cause(exc)}", provider=provider
            ) from exc
        content_type = (resp.get_header("content-type") or "").partition(";")[0].strip().lower()
        return Reply(provider, resp.status, resp.headers, content_type, body, started, ttfb)

    @staticmethod
    def http_error(reply: Reply) -> ProviderHTTPError:
        return _http_error(reply.provider, reply.status, reply.headers, reply.body[:65536])

    async def open(
        self, req: HttpRequest, provider: str, timeouts: Timeouts, *, timed: bool = True
    ) -> UpstreamResponse:
        """Send `req` and wait for the response headers; raises on connection problems and timeouts.

        `timed=False` leaves the first-byte timeout to the caller (a stream waits for its first
        event under one timeout). HTTP error statuses are not raised here: the caller decides.
        """
        started = time.perf_counter()
        timeout = _client_timeout(timeouts.connect, timeouts.idle)
        data, headers = _payload(req)
        try:
            request = self.session.request(
                req.method, req.url, data=data, headers=headers, timeout=timeout,
                allow_redirects=req.follow_redirects,
            )
            if timed:
                async with asyncio.timeout(timeouts.first_byte):
                    resp = await request
            else:
                resp = await request
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{provider} did not answer within {timeouts.first_byte:g}s", provider=provider
            ) from exc
        except (aiohttp.ConnectionTimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderTimeout(f"{provider} timed out: {exc.__class__.__name__}", provider=provider) from exc
        except aiohttp.ClientConnectorError as exc:
            raise ProviderConnectionError(
                f"could not connect to {provider} ({exc.host}:{exc.port}): {exc.os_error.strerror or exc.os_error}",
                provider=provider,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ProviderConnectionError(
                f"{provider} connection failed: {exc.__class__.__name__}: {exc}", provider=provider
            ) from exc
        return UpstreamResponse(resp, provider, started)

    async def error_from(self, resp: UpstreamResponse, limit: int = 65536) -> ProviderHTTPError:
        """Read an error answer and turn it into the matching ProviderHTTPError."""
        try:
            body = await resp.read(limit)
        except ProviderError:
            body = b""
        return _http_error(resp.provider, resp.status, resp.headers, body)


def _payload(req: HttpRequest) -> tuple[Any, dict[str, str]]:
    """The body as aiohttp takes it: a spooled upload goes as chunks read from its file, with its
    Content-Length (so it is not sent chunked, which some providers refuse)."""
    body = req.body
    if body is None or isinstance(body, bytes):
        return body, req.headers
    if isinstance(body, Binary):
        return body.data, req.headers
    return body.chunks(), {**req.headers, "content-length": str(body.size)}


def _http_error(provider: str, status: int, headers: Any, body: bytes) -> ProviderHTTPError:
    return ProviderHTTPError(
        provider=provider, status_code=status, body=body.decode(errors="replace"),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def _cause(exc: Exception) -> str:
    """The innermost reason pyreqwest gives (e.g. 'Connection refused'), without the URL."""
    details = getattr(exc, "details", None)
    causes = details.get("causes") if isinstance(details, dict) else None
    if causes:
        last = causes[-1]
        return str(last.get("message") if isinstance(last, dict) else last)
    return str(exc).split(" for url")[0]


def _last_event_end(buffer: bytes) -> int:
    """Index just past the last blank line (end of the last complete event), or 0."""
    best = 0
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        i = buffer.rfind(sep)
        if i >= 0 and i + len(sep) > best:
            best = i + len(sep)
    return best


class SSEBatch:
    """The events of one network read. `raw` is the block itself when it is already in canonical
    form (`data: <one line>` events, each ending in a blank line): a relay may forward it as it is,
    and its events are only split out if someone asks for them."""

    __slots__ = ("_events", "raw")

    def __init__(self, events: list[SSEEvent] | None, raw: bytes | None = None) -> None:
        self._events = events
        self.raw = raw

    def __bool__(self) -> bool:
        return self.raw is not None or bool(self._events)

    @property
    def events(self) -> list[SSEEvent]:
        if self._events is None:
            assert self.raw is not None
            self._events = [SSEEvent(p[6:]) for p in self.raw.split(b"\n\n") if p]
        return self._events

    def first(self) -> SSEEvent:
        if self._events is None and self.raw is not None:
            return SSEEvent(self.raw[6 : self.raw.index(b"\n\n")])
        return self.events[0]


def parse_sse(block: bytes) -> SSEBatch:
    """The events of a block of complete SSE text; comments, `id:` and `retry:` lines are ignored."""
    if b"\r" not in block and block.endswith(b"\n\n") and block.startswith(b"data: "):
        # The common shape: one `data: ...` line per event. JSON has no raw newline, so the block is
        # canonical when every newline belongs to an event separator followed by the next `data: `.
        events = block.count(b"\n\n")
        if block.count(b"\n") == 2 * events and block.count(b"\n\ndata: ") == events - 1:
            return SSEBatch(None, block)
    events_: list[SSEEvent] = []
    data: list[bytes] = []
    event: str | None = None
    for line in block.splitlines():
        if not line:
            if data:
                events_.append(SSEEvent(b"\n".join(data), event))
            data, event = [], None
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode(errors="replace")
    if data:
        events_.append(SSEEvent(b"\n".join(data), event))
    return SSEBatch(events_)


@functools.lru_cache(maxsize=256)
def _client_timeout(connect: float, idle: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, connect=connect, sock_read=idle)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent or garbage."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
