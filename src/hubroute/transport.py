"""The only module that does network I/O to providers: pooled HTTP clients, timeouts, SSE reading.

Two verbs:

    fetch(req)  a whole answer (non-streamed chat, Hub look-ups, job polls)
    open(req)   an answer read as it arrives (event streams, media, passthrough)

Both go through `h1.Client`, our lean HTTP/1.1 client on llhttp: through it a proxied request costs
the router far fewer instructions than through aiohttp (streams) or pyreqwest (whole answers; the
figures are in bench/RESULTS.md). What it does not do goes
through aiohttp (`transport_aiohttp`): redirects (result downloads) and uploads streamed from a spool
file. `server.http_stack: stock` sends everything through aiohttp, h1 unused: the operator's switch
should our own protocol code misbehave; both keep one contract (timeouts, errors, proxies, bounds).
Every failure leaves as a `ProviderError` subclass:

    could not connect / connection dropped  -> ProviderConnectionError
    connect, first-byte or idle timeout     -> ProviderTimeout
    answer larger than the limit, or no HTTP -> ProviderResponseError
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import email.utils
import math
import re
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from hubroute import h1
from hubroute.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeout,
)
from hubroute.inputs.decode import Binary

if TYPE_CHECKING:
    import aiohttp

    from hubroute.config import Settings
    from hubroute.inputs.fetch import AddressRules, InputSettings
    from hubroute.providers import HttpRequest
    from hubroute.transport_aiohttp import AiohttpBody, AiohttpClient

#: largest server-sent event accepted by default (`routing.max_event_bytes`)
MAX_EVENT_BYTES = 1024 * 1024
#: largest answer read whole by default (`routing.max_answer_bytes`)
MAX_ANSWER_BYTES = 128 * 1024 * 1024
#: the statuses of a redirect a result download follows (`Transport.open_checked`)
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
#: the methods `h1.Client` sends (HEAD answers carry no body, which its parser cannot be told)
_H1_METHODS = frozenset(("GET", "POST", "PUT", "PATCH", "DELETE"))


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

    __slots__ = ("_body", "_idle", "_max_event", "headers", "provider", "started", "status")

    def __init__(self, body: h1.Response | AiohttpBody, provider: str, started: float, idle: float,
                 max_event: int = MAX_EVENT_BYTES) -> None:
        self._body = body
        self._idle = idle
        self._max_event = max_event
        self.status = body.status
        self.headers = body.headers
        self.provider = provider
        self.started = started

    @property
    def content_type(self) -> str:
        return self._body.content_type

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has arrived and been read."""
        return self._body.at_eof

    @property
    def received(self) -> bool:
        """Whether the whole body has arrived (read or not)."""
        return self._body.received

    async def read(self, limit: int) -> bytes:
        """The whole body, at most `limit` bytes; releases the response."""
        try:
            body = await self._body.read_all(self._idle, limit)
        except (TimeoutError, h1.H1Error) as exc:
            raise self._broken(exc) from exc
        finally:
            self._body.release()
        if body is None:
            raise ProviderResponseError(
                f"{self.provider} answered more than {limit} bytes", provider=self.provider, status_code=self.status
            )
        return body

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives, in whatever pieces the network delivers."""
        while chunk := await self.read_any():
            yield chunk

    async def read_any(self, idle: float | None = None) -> bytes:
        """The body bytes that have arrived (waiting for some, at most `idle` seconds, default the
        idle timeout), b"" at its end."""
        try:
            return await self._body.read_any(self._idle if idle is None else idle)
        except (TimeoutError, h1.H1Error) as exc:
            raise self._broken(exc) from exc

    def read_nowait(self) -> bytes | None:
        """Body bytes that have already arrived, or None: then `read_any`."""
        return self._body.read_nowait()

    def _broken(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, TimeoutError):
            return ProviderTimeout(f"{self.provider} went silent while answering", provider=self.provider)
        if isinstance(exc, h1.H1ProtocolError):
            return ProviderResponseError(f"{self.provider}'s answer is not HTTP/1.1: {exc}", provider=self.provider,
                                         status_code=self.status)
        return ProviderConnectionError(f"{self.provider} connection broke while answering: {exc}",
                                       provider=self.provider)

    def event_batches(self, first_by: float | None = None) -> EventBatches:
        """Server-sent events as they arrive, grouped by network read (`EventBatches`); the first
        batch due by `first_by` (a `time.perf_counter()` instant), if given."""
        return EventBatches(self, first_by, self._max_event)

    async def close(self) -> None:
        """Drop the response; an unread body closes its connection."""
        self._body.close()

    async def release(self) -> None:
        """Done with the response: a body read to its end returns its connection to the pool."""
        self._body.release()

    async def finish(self, done: bool) -> None:
        """The end of a stream. One that reached its end (`done`: [DONE] came) gives its connection
        back to the pool: the body's own end is normally in flight just behind [DONE], so it is
        read for up to 50 ms. Any other closes its connection."""
        if done and not self.at_eof:
            try:
                async with asyncio.timeout(0.05):
                    while await self.read_any():
                        pass
            except (TimeoutError, ProviderError):
                done = False
        await (self.release() if done and self.at_eof else self.close())


class EventBatches:
    """Server-sent events as they arrive, grouped by network read: every complete event that one
    read delivered comes in one batch, so a relay can forward them in one write. Tolerates `data:x`
    without the space and CRLF / CR line ends. (A class rather than an async generator: this is
    the stream relay's inner loop.)

    An event still incomplete is kept as the pieces that brought it, joined once when its end
    arrives; the end is looked for only in each new piece and the 3 bytes before it (a separator
    is at most 4 bytes long, and none lies wholly in what was kept), so reading costs time linear
    in the bytes received. An event that grows past `max_event` bytes without its end is a
    `ProviderResponseError` (`routing.max_event_bytes`)."""

    __slots__ = ("_done", "_first_by", "_max", "_pieces", "_resp", "_size", "_tail")

    def __init__(self, resp: UpstreamResponse, first_by: float | None = None,
                 max_event: int = MAX_EVENT_BYTES) -> None:
        self._resp = resp
        #: the incomplete event's pieces (none holds an event end), and their total size
        self._pieces: list[bytes] = []
        self._size = 0
        #: the last 3 bytes of the pieces: a separator may begin there and end in the next read
        self._tail = b""
        self._max = max_event
        self._done = False
        self._first_by = first_by

    def __aiter__(self) -> EventBatches:
        return self

    async def __anext__(self) -> SSEBatch:
        while not self._done:
            if self._size > self._max:  # (checked here: the events a read completed go out first)
                self._too_large()
            chunk = self._resp.read_nowait()  # what is here already needs no trip through the loop
            if chunk is None:
                chunk = await (self._resp.read_any() if self._first_by is None else self._first_read())
            if not chunk:
                self._done = True
                break
            pieces = self._pieces
            if not pieces:  # the common case: the read starts at an event's start
                end = _last_event_end(chunk)
                if not end:
                    self._keep(chunk)
                    continue
                block = chunk if end == len(chunk) else chunk[:end]
            else:
                tail = self._tail
                end = _last_event_end(tail + chunk) - len(tail)
                if end <= 0:
                    self._keep(chunk)
                    continue
                pieces.append(chunk[:end])
                block = b"".join(pieces)
                self._pieces, self._size, self._tail = [], 0, b""
            if end < len(chunk):
                self._keep(chunk[end:])
            events = parse_sse(block)
            if events:
                self._first_by = None
                return events
        if self._size > self._max:
            self._too_large()
        rest = b"".join(self._pieces)  # an event the stream's end cut short of its blank line
        self._pieces, self._size, self._tail = [], 0, b""
        if rest.strip():
            events = parse_sse(rest)
            if events:
                return events
        raise StopAsyncIteration

    def _keep(self, piece: bytes) -> None:
        """Keep `piece` of the incomplete event (its size is checked before the next read)."""
        self._size += len(piece)
        self._pieces.append(piece)
        self._tail = piece[-3:] if len(piece) >= 3 else (self._tail + piece)[-3:]

    def _too_large(self) -> None:
        self._pieces, self._size, self._tail, self._done = [], 0, b"", True
        provider = self._resp.provider
        raise ProviderResponseError(
            f"{provider} sent an event larger than {self._max} bytes (routing.max_event_bytes)",
            provider=provider, status_code=self._resp.status,
        )

    async def _first_read(self) -> bytes:
        assert self._first_by is not None
        resp = self._resp
        try:
            return await resp.read_any(max(self._first_by - time.perf_counter(), 0.0))
        except ProviderTimeout:
            raise ProviderTimeout(f"{resp.provider} sent no event within {self._first_by - resp.started:.3g}s",
                                  provider=resp.provider) from None


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


class Transport:
    """The pooled HTTP clients shared by every request of one router process (or one client)."""

    def __init__(self, *, connect_timeout: float = 10.0, idle_timeout: float = 120.0,
                 user_agent: str = "hubroute", stack: Literal["fast", "stock"] = "fast",
                 max_event_bytes: int = MAX_EVENT_BYTES, max_answer_bytes: int = MAX_ANSWER_BYTES,
                 inputs: InputSettings | None = None) -> None:
        """`stack`: "fast", h1 for what it does and aiohttp for the rest; "stock", aiohttp for all.
        `inputs`: the address rules URLs a provider answers with must pass (`open_checked`)."""
        if stack not in ("fast", "stock"):
            raise ValueError(f"unknown HTTP stack {stack!r}")
        self._connect = connect_timeout
        self._idle = idle_timeout
        #: largest server-sent event read from a stream (`EventBatches`)
        self.max_event_bytes = max_event_bytes
        #: largest answer read whole (`routing.max_answer_bytes`)
        self.max_answer_bytes = max_answer_bytes
        self._user_agent = user_agent
        self.stack = stack
        self._aiohttp: AiohttpClient | None = None
        self._h1: h1.Client | None = None
        self._inputs = inputs
        self._rules: AddressRules | None = None
        self._guarded: AiohttpClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings, user_agent: str = "hubroute") -> Transport:
        """The transport the settings ask for (`routing.timeouts`, `server.http_stack`)."""
        timeouts = settings.routing.timeouts
        return cls(connect_timeout=timeouts.connect, idle_timeout=timeouts.idle, user_agent=user_agent,
                   stack=settings.server.http_stack, max_event_bytes=settings.routing.max_event_bytes,
                   max_answer_bytes=settings.routing.max_answer_bytes, inputs=settings.inputs)

    @property
    def h1(self) -> h1.Client:
        if self._h1 is None:
            self._h1 = h1.Client(connect_timeout=self._connect, user_agent=self._user_agent,
                                 proxies=h1.environment_proxies())
        return self._h1

    @property
    def aio(self) -> AiohttpClient:
        """aiohttp, for what `h1` does not do, or for everything (imported on first use)."""
        if self._aiohttp is None:
            from hubroute.transport_aiohttp import AiohttpClient

            self._aiohttp = AiohttpClient(self._user_agent)
        return self._aiohttp

    @property
    def session(self) -> aiohttp.ClientSession:
        """aiohttp's pooled session (no cookie jar), for downloads outside the provider calls."""
        return self.aio.session

    @property
    def rules(self) -> AddressRules:
        """The address rules (`inputs:`) of the URLs a provider answers with."""
        if self._rules is None:
            from hubroute.inputs.fetch import AddressRules

            self._rules = AddressRules(self._inputs)
        return self._rules

    async def close(self) -> None:
        if self._aiohttp is not None:
            await self._aiohttp.close()
        if self._guarded is not None:
            await self._guarded.close()
        if self._h1 is not None:
            await self._h1.close()
            self._h1 = None

    async def fetch(self, req: HttpRequest, provider: str, timeouts: Timeouts, limit: int) -> Reply:
        """Send `req` and read its whole answer, at most `limit` bytes, within the first-byte timeout.

        HTTP error statuses are returned, not raised: the caller decides what they mean.
        """
        resp = await self.open(req, provider, timeouts)
        started = resp.started
        ttfb = time.perf_counter() - started
        try:
            if resp.received:  # the usual case: the whole body came with the head
                body = await resp.read(limit)
            else:  # what is left of first_byte for the rest, under a scope only now
                async with asyncio.timeout(max(started + timeouts.first_byte - time.perf_counter(), 0.0)):
                    body = await resp.read(limit)
        except TimeoutError as exc:
            raise ProviderTimeout(
                f"{provider} did not answer within {timeouts.first_byte:g}s", provider=provider
            ) from exc
        return Reply(provider, resp.status, resp.headers, resp.content_type, body, started, ttfb)

    @staticmethod
    def http_error(reply: Reply) -> ProviderHTTPError:
        return _http_error(reply.provider, reply.status, reply.headers, reply.body[:65536])

    async def open(self, req: HttpRequest, provider: str, timeouts: Timeouts) -> UpstreamResponse:
        """Send `req` and wait for the response headers, within the first-byte timeout; raises on
        connection problems and timeouts. HTTP error statuses are not raised: the caller decides.
        """
        started = time.perf_counter()
        if self.stack == "fast" and self._plain(req):  # h1 bounds the connect and the head itself
            return await self._send_h1(req, provider, timeouts, started)
        body = await self.aio.send(req, provider, timeouts)
        return UpstreamResponse(body, provider, started, timeouts.idle, self.max_event_bytes)

    async def open_checked(self, req: HttpRequest, provider: str, timeouts: Timeouts,
                           origin: tuple[str, int]) -> UpstreamResponse:
        """`open()` for a URL a provider answered with (a result to download, a polling URL): its
        host must be the provider's own, `origin` (host, port: where the job was submitted, the
        configured endpoint, trusted as the provider's API is), or pass the address rules of client
        URLs (`inputs:`: no loopback, private, link-local or metadata address, by literal or by
        name, unless `inputs.allow_private` / `allowed_hosts` say so), connected to directly. The
        redirects of a download (`follow_redirects`) are followed here, each one checked the same
        way, at most `inputs.max_redirects`, without the request's headers."""
        from yarl import URL

        from hubroute.inputs.fetch import Refused

        rules = self.rules
        url, base, headers = req.url, None, req.headers
        for _ in range(rules.settings.max_redirects + 1):
            try:
                target = base.join(URL(url)) if base is not None else URL(url)
                host, port = _origin(target.raw_host or "", target.scheme, target.port)
                trusted = (host, port) == origin and target.scheme in ("http", "https")
                if not trusted:
                    target = rules.check(str(target))
            except (TypeError, ValueError):
                raise _refused(provider, req, "not a valid URL") from None
            except Refused as exc:
                raise _refused(provider, req, str(exc)) from None
            hop = dataclasses.replace(req, url=url if base is None else str(target), headers=headers,
                                      follow_redirects=False)
            if trusted:
                resp = await self.open(hop, provider, timeouts)
            else:
                try:
                    resp = UpstreamResponse(await self._guarded_client().send(hop, provider, timeouts), provider,
                                            time.perf_counter(), timeouts.idle, self.max_event_bytes)
                except Refused as exc:
                    raise _refused(provider, req, str(exc)) from None
            if not (req.follow_redirects and resp.status in _REDIRECTS):
                return resp
            location = resp.headers.get("location")
            await resp.close()
            if not location:
                raise ProviderResponseError(f"{provider}'s result URL answered {resp.status} with no Location",
                                            provider=provider, status_code=resp.status)
            url, base, headers = location, target, {}  # no header follows a redirect
        raise ProviderResponseError(f"{provider}'s result URL redirected more than "
                                    f"{rules.settings.max_redirects} times (inputs.max_redirects)",
                                    provider=provider, status_code=200)

    def _guarded_client(self) -> AiohttpClient:
        if self._guarded is None:
            from hubroute.transport_aiohttp import AiohttpClient

            self._guarded = AiohttpClient(self._user_agent, resolver=self.rules.resolver())
        return self._guarded

    @staticmethod
    def _plain(req: HttpRequest) -> bool:
        """Whether `h1` can send it (else aiohttp): no redirects to follow, a body held in memory."""
        body = req.body
        return not req.follow_redirects and req.method in _H1_METHODS and (
            body is None or isinstance(body, bytes | Binary))

    async def _send_h1(self, req: HttpRequest, provider: str, timeouts: Timeouts, started: float) -> UpstreamResponse:
        body = req.body.data if isinstance(req.body, Binary) else req.body
        assert body is None or isinstance(body, bytes)
        try:
            resp = await self.h1.request(req.method, req.url, req.headers, body, connect_timeout=timeouts.connect,
                                         head_timeout=timeouts.first_byte)
        except TimeoutError as exc:  # the head's timeout
            raise ProviderTimeout(f"{provider} did not answer within {timeouts.first_byte:g}s",
                                  provider=provider) from exc
        except h1.H1ConnectTimeout as exc:
            raise ProviderTimeout(f"{provider}: connecting to {exc.host}:{exc.port} {exc.reason}",
                                  provider=provider) from exc
        except h1.H1ConnectError as exc:
            raise ProviderConnectionError(
                f"could not connect to {provider} ({exc.host}:{exc.port}): {exc.reason}", provider=provider
            ) from exc
        except h1.H1ProtocolError as exc:
            raise ProviderResponseError(f"{provider} answered something that is not HTTP/1.1: {exc}",
                                        provider=provider) from exc
        except h1.H1Error as exc:
            raise ProviderConnectionError(f"{provider} connection failed: {exc}", provider=provider) from exc
        except ValueError as exc:  # a URL or header that cannot be sent
            raise ProviderConnectionError(f"{provider}: cannot send the request: {exc}", provider=provider) from exc
        return UpstreamResponse(resp, provider, started, timeouts.idle, self.max_event_bytes)

    async def error_from(self, resp: UpstreamResponse, limit: int = 65536) -> ProviderHTTPError:
        """Read an error answer and turn it into the matching ProviderHTTPError."""
        try:
            body = await resp.read(limit)
        except ProviderError:
            body = b""
        return _http_error(resp.provider, resp.status, resp.headers, body)


def origin_of(url: str) -> tuple[str, int]:
    """(host, port) of `url`, the host lower-cased, the port the scheme's when none is given."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return _origin(parts.hostname or "", parts.scheme, port)


def _origin(host: str, scheme: str, port: int | None) -> tuple[str, int]:
    host = host.lower().rstrip(".").strip("[]")
    return host, port if port is not None else (443 if scheme.lower() == "https" else 80)


def _refused(provider: str, req: HttpRequest, reason: str) -> ProviderResponseError:
    return ProviderResponseError(f"{provider} answered a URL the router may not fetch ({reason})",
                                 provider=provider, status_code=200, body=req.url[:300])


def _http_error(provider: str, status: int, headers: Any, body: bytes) -> ProviderHTTPError:
    return ProviderHTTPError(
        provider=provider, status_code=status, body=body.decode(errors="replace"),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def _last_event_end(buffer: bytes) -> int:
    """Index just past the last blank line (end of the last complete event), or 0."""
    if b"\r" not in buffer:  # the common case: LF line ends only
        i = buffer.rfind(b"\n\n")
        return i + 2 if i >= 0 else 0
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

    __slots__ = ("_events", "count", "raw")

    def __init__(self, events: list[SSEEvent] | None, raw: bytes | None = None, count: int = 0) -> None:
        self._events = events
        self.raw = raw
        #: how many events `raw` holds
        self.count = count if events is None else len(events)

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
    if block.startswith(b"data: ") and block.endswith(b"\n\n") and b"\r" not in block:
        # The common shape: one `data: ...` line per event. JSON has no raw newline, so the block is
        # canonical when every newline belongs to a separator `\n\ndata: ` or to the final `\n\n`.
        separators = block.count(b"\n\ndata: ")
        if block.count(b"\n") == 2 * separators + 2:
            return SSEBatch(None, block, separators + 1)
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


#: delta-seconds (RFC 9110 §10.2.3: digits; a decimal fraction is tolerated, as some providers send one)
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds, or an HTTP date (IMF-fixdate, RFC 850 or
    asctime; a date past is 0). None if absent or nonsense: a sign, an exponent, inf, nan, a date that
    does not parse. The value is finite but not bounded: the caller caps it (`routing.max_retry_after`)."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None  # 400 digits are inf
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" name no zone: HTTP dates are in GMT
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())
