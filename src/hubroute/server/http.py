"""The router's HTTP/1.1 protocol: uvicorn's server, sockets and lifecycle, with a leaner request cycle.

uvicorn runs the process (listening sockets, signals, lifespan, graceful shutdown, the Date header)
and takes its HTTP protocol as a class (`uvicorn.Config(http=...)`). Its httptools protocol costs
119k instructions per request here with a bare ASGI app answering a fixed body, this one 97k (the
router's own streamed request: 518k -> 486k when it came in). It speaks the same HTTP/1.1 over the
same parser (llhttp, via httptools) with what the router does not use left out (WebSocket upgrades,
uvicorn's access log, `limit_concurrency`: the connection cap below replaces it) and the per-request
work cut down:

* a response header is checked for forbidden characters (uvicorn's two regex searches) once, not at
  every response: its checked line is cached, as most of a router's headers repeat;
* a response's head leaves with its body in one write: it is held until the first body message or
  the end of the event-loop turn, whichever comes first (on a loopback or virtual network each
  `send()` also runs the receiver's side of TCP);
* `receive()` waits on a future made only when it has to wait, not on an `asyncio.Event`.

Behaviour is uvicorn's where a client can see it: keep-alive and its timeout, pipelined requests
answered in order, `Expect: 100-continue`, HTTP/1.0, chunked responses when no length is given,
HEAD, a 400 and a close for a malformed request, a 500 when the app fails before answering, a close
when it fails after, reading paused while a request body waits unread beyond 64 KiB, writes paused
while the socket's buffer is full, `http.disconnect` once the client has gone or the response is
complete. The values checked are uvicorn's own (`STATUS_LINE`, `HEADER_RE`, `HEADER_VALUE_RE`,
`FlowControl`), imported from the pinned version.

What one connection may cost is bounded (`Limits`, from `server:` in the config), each limit decided
as bytes arrive and in time linear in what was read:

* a new connection that sends nothing is closed after `idle_timeout`; a request's head (request line
  and headers) must arrive whole within `header_timeout` of its first byte (408 and a close beyond:
  a head sent a byte a second no longer holds a connection open); an idle kept-alive connection is
  closed after `timeout_keep_alive`. No timer is set for a head that arrives in one read.
* the head is counted as it is read and the parser is never fed more of it than `max_head_bytes`:
  431 beyond, and beyond `max_header_line_bytes` for one header line or `max_header_count` header
  lines, checked once the head is whole and after each read of a head still in pieces (414 for a
  request target longer than a line). httptools joins the pieces of a header with `+=`, so an
  unbounded head costs the square of its size; bounded, it costs at most that of `max_head_bytes`.
* a declared Content-Length beyond `max_body_bytes` is answered 413 at once: no `100 Continue`, the
  body is not read, the app is not called.
* at most `max_connections` connections are open per server: beyond, the least recently used one
  with no request in progress (a silent one, a head still arriving, an idle kept-alive one) is closed
  to make room, as nginx reuses its idle connections; when every connection has a request in
  progress, the new one is answered 503 with `retry-after: 1` and `connection: close` at once, unread
  (an answer a client can act on, and no costlier than a bare close: one write, no parsing).

Refusals are OpenAI-shaped JSON errors (`{"error": {"message", "type", "code"}}`) with
`connection: close`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import urllib.parse
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, FlowControl
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

log = logging.getLogger("uvicorn.error")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUS = (204, 304)
_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_ASGI = {"version": "3.0", "spec_version": "2.3"}


@dataclass(frozen=True)
class Limits:
    """What one connection may cost (see the module's docstring); sizes in bytes, times in seconds."""

    idle_timeout: float = 10.0  # a new connection's wait for its first byte
    header_timeout: float = 10.0  # a request's whole head, from its first byte (408)
    max_connections: int = 4096  # open per server (least recently used idle one closed, else 503)
    max_header_line_bytes: int = 16 * 1024  # one header line; the request target too (431; 414)
    max_head_bytes: int = 64 * 1024  # the whole head (431)
    max_header_count: int = 100  # header lines (431)
    max_body_bytes: int | None = None  # a declared Content-Length beyond it: 413 at once


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that is refused (`HttpProtocol.refusal`)."""


class _Open:
    """A server's open connections, least recently used first (a new one, or one just answered, last)."""

    def __init__(self) -> None:
        self.lru: OrderedDict[HttpProtocol, None] = OrderedDict()
        self.evicted = 0
        self.refused = 0
        self.warned = -1e9

    def make_room(self, proto: HttpProtocol) -> bool:
        """Close the least recently used connection with no request in progress; False if none is
        found among the 64 least recently used (those busy move to the end)."""
        lru = self.lru
        for _ in range(min(64, len(lru))):
            victim = next(iter(lru))
            if victim.active is None:
                del lru[victim]
                victim.transport.close()
                self.evicted += 1
                self._warn(proto, "closing the least recently used idle connections")
                return True
            lru.move_to_end(victim)
        self.refused += 1
        self._warn(proto, "every connection has a request in progress: refusing new ones (503)")
        return False

    def _warn(self, proto: HttpProtocol, what: str) -> None:
        now = proto.loop.time()
        if now - self.warned >= 60:  # at most one line a minute, however hard the limit is hit
            self.warned = now
            log.warning("connection limit (server.max_connections: %d) reached: %s (%d closed, %d refused so "
                        "far)", proto.limits.max_connections, what, self.evicted, self.refused)


def _open(state: ServerState) -> _Open:
    found: _Open | None = getattr(state, "hubroute_open", None)
    if found is None:
        found = state.hubroute_open = _Open()  # type: ignore[attr-defined]
    return found


class HttpProtocol(asyncio.Protocol):
    """One client connection: parses requests, runs the app for each, one at a time, in order."""

    limits: ClassVar[Limits] = Limits()
    # Rarely set, so the class's until then: CPython (3.11) keeps an instance's attributes fast to
    # read while it has at most 30; a connection has 29 others.
    head_since: float | None = None  # when a head in pieces began arriving
    refusal: tuple[int, str, str] | None = None  # a request refused in a parser callback
    refused = False  # a refusal sent: what the client still sends is read and dropped
    checked: list[tuple[bytes, bytes]] | None = None  # the headers `checked_lines` counts
    checked_lines = 0  # of those, the lines checked against the line limit

    @property
    def max_body(self) -> int:
        return self.limits.max_body_bytes or 0

    @classmethod
    def configured(cls, limits: Limits) -> type[HttpProtocol]:
        """This protocol with these limits (uvicorn takes a protocol as a class)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.root_path = config.root_path
        self.keep_alive_timeout = config.timeout_keep_alive
        self.app_state = app_state
        self.server_state = server_state
        self.parser = httptools.HttpRequestParser(self)
        # answer a request even when the client sent more after a `Connection: close` (as uvicorn does)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: FlowControl = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        #: the one timer of the connection's deadlines (it may fire early: `_expire` checks, re-arms)
        self.timer: asyncio.TimerHandle | None = None
        #: when the connection last fell idle (its last answer sent, nothing received since), or None
        self.idle_since: float | None = None
        #: reading a head (from the start, or the end of a request): its bytes so far
        self.in_head = True
        self.head_bytes = 0
        self.declared = b""  # the request's Content-Length
        self.lru = _open(server_state).lru
        limits = self.limits  # read on every request: as the instance's own
        self.max_head = limits.max_head_bytes
        self.max_line = limits.max_header_line_bytes
        self.max_count = limits.max_header_count
        max_body = limits.max_body_bytes
        self.max_body_digits = 99 if max_body is None else len(str(max_body))
        #: the request being parsed, the one being answered, and those waiting behind it
        self.cycle: Cycle | None = None
        self.active: Cycle | None = None
        self.pipeline: deque[Cycle] = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.flow = FlowControl(self.transport)
        self.server = get_local_addr(self.transport)
        self.client = get_remote_addr(self.transport)
        self.scheme = "https" if is_ssl(self.transport) else "http"
        lru = self.lru
        if len(lru) >= self.limits.max_connections and not _open(self.server_state).make_room(self):
            self._refuse(503, "too_many_connections", "the router has as many connections open as it "
                         "takes, each with a request in progress: retry shortly", b"retry-after: 1\r\n")
            return
        lru[self] = None
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        now = self.loop.time()
        deadline = now + self.limits.idle_timeout
        # idle since a time whose keep-alive deadline is the new connection's idle one (one attribute fewer)
        self.idle_since = deadline - self.keep_alive_timeout
        self.timer = self.loop.call_at(deadline, self._expire)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lru.pop(self, None)
        self.server_state.connections.discard(self)
        for cycle in (self.active, self.cycle, *self.pipeline):
            if cycle is not None and not cycle.complete:
                cycle.disconnected = True
                cycle.wake()
        if self.flow is not None:
            self.flow.resume_writing()
        if exc is None:
            self.transport.close()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.parser = None  # type: ignore[assignment]

    def eof_received(self) -> None:
        pass  # the transport closes itself, as under uvicorn

    def data_received(self, data: bytes | memoryview) -> None:
        self.idle_since = None
        if self.in_head:  # counted: the parser is never given more of a head than it may take
            size = len(data)
            if size > self.max_head - self.head_bytes:
                self._past_head_limit(data)
                return
            self.head_bytes += size
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._parser_error()
        except httptools.HttpParserUpgrade:
            log.warning("Unsupported upgrade request.")  # answered as a plain request, as uvicorn does
        if self.in_head and self.head_bytes:  # a head in pieces
            self._head_in_pieces()

    def _head_in_pieces(self) -> None:
        over = self._over_limits()
        if over is not None:
            self._refuse(*over)
        elif self.head_since is None:
            self.head_since = now = self.loop.time()  # its deadline runs from its first byte
            self._arm(now + self.limits.header_timeout)

    def _past_head_limit(self, data: bytes | memoryview) -> None:
        """A read going past what a head may take: the parser gets only that much of it, then, if the
        head ended within it, the rest (its body, or the next request); else 431."""
        room = self.max_head - self.head_bytes
        view = memoryview(data)
        self.head_bytes = self.max_head
        try:
            self.parser.feed_data(view[:room])
        except httptools.HttpParserError:
            self._parser_error()
        except httptools.HttpParserUpgrade:
            log.warning("Unsupported upgrade request.")
        if self.refused or self.transport.is_closing():
            return
        if self.in_head:
            self._refuse(431, "request_header_fields_too_large", f"request head larger than {self.max_head} bytes")
        else:
            self.data_received(view[room:])

    def _parser_error(self) -> None:
        if self.refusal is not None:  # refused in a callback
            self._refuse(*self.refusal)
        else:
            log.warning("Invalid HTTP request received.")
            self._refuse(400, "invalid_request", "Invalid HTTP request received.")

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    # --- llhttp callbacks -----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_continue = False
        self.declared = b""

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.max_line:
            self._stop(414, "uri_too_long", f"request target longer than {self.max_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:  # (limits: `_over_limits`, not per header)
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        elif name == b"content-length":
            self.declared = value
        self.headers.append((name, value))

    def _stop(self, status: int, code: str, message: str) -> None:
        self.refusal = (status, code, message)
        raise _Refused(message)

    def _over_limits(self) -> tuple[int, str, str] | None:
        """The header count and line limits over the headers parsed so far: checked once a head is
        whole, and after each read of a head still in pieces (each line once: linear overall). A
        line can only be too long in a head that is (so far) longer than a line may be."""
        headers = self.headers
        if len(headers) > self.max_count:
            return 431, "request_header_fields_too_large", f"more than {self.max_count} header lines"
        if self.head_bytes > self.max_line:
            if self.checked is not headers:  # a new request's
                self.checked, self.checked_lines = headers, 0
            for name, value in headers[self.checked_lines:]:
                if len(name) + len(value) > self.max_line:
                    return 431, "request_header_fields_too_large", f"a header line longer than {self.max_line} bytes"
            self.checked_lines = len(headers)
        return None
    def on_headers_complete(self) -> None:
        if len(self.headers) > self.max_count or self.head_bytes > self.max_line:
            over = self._over_limits()
            if over is not None:
                self._stop(*over)
        self.in_head = False
        if self.head_since is not None:  # (read from the class but for a head that came in pieces)
            self.head_since = None
        parser = self.parser
        version = parser.get_http_version()
        url = httptools.parse_url(self.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        root = self.root_path
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": parser.get_method().decode("ascii"),
            "root_path": root,
            "path": root + path if root else path,
            "raw_path": root.encode("ascii") + raw_path if root else raw_path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        keep_alive = version != "1.0" and parser.should_keep_alive()
        declared = self.declared  # parsed only when it has as many digits as the limit, or more
        if len(declared) >= self.max_body_digits and (len(declared) > 18 or int(declared) > self.max_body):
            self.flow.pause_reading()  # not read: answered 413 in its turn, and the connection closed
            cycle: Cycle = TooLarge(self, scope, False, False)
        else:
            cycle = Cycle(self, scope, keep_alive, self.expect_continue)
        self.cycle = cycle
        if self.active is None:
            self._run(cycle)
        else:  # a pipelined request: answered after the ones before it
            self.flow.pause_reading()
            self.pipeline.appendleft(cycle)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle is None or cycle.complete:
            return
        cycle.body.append(body)
        cycle.size += len(body)
        if cycle.size > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        self.in_head = True  # what comes next is the next request's head
        self.head_bytes = 0
        cycle = self.cycle
        if cycle is None or cycle.complete:
            return
        cycle.more_body = False
        cycle.wake()

    # --- requests -------------------------------------------------------------------------------
    def _run(self, cycle: Cycle) -> None:
        self.active = cycle
        # named: a task left to name itself formats "Task-<n>", ~1% of a request's instructions
        task = self.loop.create_task(cycle.run(self.app), name="hubroute-request")
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def response_complete(self) -> None:
        """The active request's answer has been sent: start the next one, or wait for it."""
        self.server_state.total_requests += 1
        self.active = None
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            self._run(self.pipeline.pop())
            return
        self.lru.move_to_end(self)
        self.idle_since = now = self.loop.time()
        head_since = self.head_since  # the next request's head, if it began arriving during this answer
        deadline = now + self.keep_alive_timeout if head_since is None else head_since + self.limits.header_timeout
        timer = self.timer
        if timer is None or timer.when() > deadline:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        """Have the timer fire at `deadline` at the latest (one timer per connection: the pending one
        is kept when it fires no later; firing early, it finds the deadline moved and re-arms)."""
        timer = self.timer
        if timer is not None:
            if timer.when() <= deadline:
                return
            timer.cancel()
        self.timer = self.loop.call_at(deadline, self._expire)

    def shutdown(self) -> None:
        """Graceful shutdown (called by uvicorn's server): close when idle, else after this answer."""
        if self.active is None:
            self.transport.close()
        else:
            self.active.keep_alive = False

    def _expire(self) -> None:
        """The connection's deadline, if it has one now: a head in pieces must be whole within
        `header_timeout` of its first byte (408); a connection that sent nothing since it was opened
        or answered is closed after `idle_timeout` or the keep-alive timeout. A request in progress
        has none here (the app's own timeouts hold): the timer is armed again when it is answered."""
        self.timer = None
        if self.active is not None or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.head_since is not None:
            left = self.head_since + self.limits.header_timeout - now
            if left <= 0:
                self._refuse(408, "request_timeout", f"request head not received within "
                             f"{self.limits.header_timeout:g} s")
                return
        elif self.idle_since is not None:
            left = self.idle_since + self.keep_alive_timeout - now
            if left <= 0:
                self.transport.close()
                return
        else:
            return
        self.timer = self.loop.call_at(now + left, self._expire)

    def _refuse(self, status: int, code: str, message: str, extra: bytes = b"") -> None:
        """Answer `status` with an OpenAI-shaped error and close, the request unread. Behind a request
        still being answered, that answer ends the connection instead (pipelined: a request after it
        could not be answered in order)."""
        if self.refused or self.transport.is_closing():
            return
        if self.active is not None:
            self.flow.pause_reading()
            self.active.keep_alive = False
            return
        self.answer_and_close(status, code, message, extra)

    def answer_and_close(self, status: int, code: str, message: str, extra: bytes = b"") -> None:
        """Write the error, end our side (FIN), then drop what the client still sends for up to
        `LINGER_BYTES` or `LINGER_SECONDS` before closing: closed with its bytes unread, the socket
        would reset the connection, and a reset can reach the client before it has read the answer."""
        self.refused = True
        self.in_head = False
        self.parser = _Discard(self.transport)  # type: ignore[assignment]
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body = json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend((name, b": ", value, b"\r\n"))
        # every answer names a request id (the app's own for the requests it answers)
        content.append(b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: %s%08x\r\n"
                       b"connection: close\r\n%s\r\n%s" % (len(body), _REFUSAL_IDS, next(_refusals), extra, body))
        self.transport.write(b"".join(content))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.flow.resume_reading()
        else:
            self.transport.close()


_REFUSAL_IDS = b"r" + uuid.uuid4().hex[:11].encode()  # the ids of the requests refused here
_refusals = itertools.count(1)
LINGER_BYTES = 1 << 20
LINGER_SECONDS = 1.0


class _Discard:
    """The parser of a refused connection: what arrives is dropped, the connection closed beyond
    `LINGER_BYTES` (the client's EOF closes it too, as ever)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.left = LINGER_BYTES

    def feed_data(self, data: bytes | memoryview) -> None:
        self.left -= len(data)
        if self.left < 0:
            self.transport.close()


#: (name, value) as the app gave it -> its checked line, and its lowercased name if it frames the body
_LINES: dict[tuple[bytes, bytes], tuple[bytes, bytes | None]] = {}


def _header_line(name: bytes, value: bytes) -> tuple[bytes, bytes | None]:
    """A response header's line, its name lowercased, refused if it could split the head. Cached:
    most of a router's headers repeat (bounded: the per-request ones only cost the cache its hits)."""
    lower = name.lower()
    if HEADER_RE.search(lower):
        raise RuntimeError("Invalid HTTP header name.")
    if HEADER_VALUE_RE.search(value):
        raise RuntimeError("Invalid HTTP header value.")
    if len(_LINES) >= 1024:
        _LINES.clear()
    entry = _LINES[(name, value)] = (b"%s: %s\r\n" % (lower, value), lower if lower in _FRAMING else None)
    return entry


class Cycle:
    """One request and its response: the ASGI `receive` and `send` the app is given. (No __slots__:
    the state a request starts with is the class's, so making one costs five assignments.)"""

    size = 0  # bytes of request body received and not yet given to the app
    more_body = True
    given = False  # the request's last body message has been given to the app
    disconnected = False
    started = False
    complete = False
    chunked = False
    left = 0  # bytes of a Content-Length response still to send
    head: bytes | None = None  # a response head held for the body
    waiter: asyncio.Future[None] | None = None

    def __init__(self, proto: HttpProtocol, scope: dict[str, Any], keep_alive: bool, expect_continue: bool) -> None:
        self.proto = proto
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.body: list[bytes] = []  # request body pieces received and not yet given to the app

    async def run(self, app: Any) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            log.error("Exception in ASGI application\n", exc_info=exc)
            if not self.started:
                await self._send_500()
            else:
                self._flush()
                self.proto.transport.close()
        else:
            if result is not None:
                log.error("ASGI callable should return None, but returned '%s'.", result)
                self.proto.transport.close()
            elif not self.started and not self.disconnected:
                log.error("ASGI callable returned without starting response.")
                await self._send_500()
            elif not self.complete and not self.disconnected:
                log.error("ASGI callable returned without completing response.")
                self._flush()
                self.proto.transport.close()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- ASGI receive ---------------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        proto = self.proto
        if self.expect_continue and not proto.transport.is_closing():
            proto.transport.write(_CONTINUE)
            self.expect_continue = False
        while not (self.disconnected or self.complete):
            proto.flow.resume_reading()
            if self.body or not (self.more_body or self.given):
                body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
                self.body = []
                self.size = 0
                self.given = not self.more_body  # after it, receive() waits for the end
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            self.waiter = proto.loop.create_future()
            await self.waiter
        return {"type": "http.disconnect"}

    # --- ASGI send ------------------------------------------------------------------------------
    async def send(self, message: dict[str, Any]) -> None:
        proto = self.proto
        if proto.flow.write_paused and not self.disconnected:
            await proto.flow.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
            self._start(message["status"], message.get("headers", ()))
        elif not self.complete:
            if kind != "http.response.body":
                raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{kind}'.")
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent, after response already completed.")

    def _start(self, status: int, headers: Any) -> None:
        lines = [STATUS_LINE[status]]
        framing: dict[bytes, bytes] = {}
        for name, value in (*self.proto.server_state.default_headers, *headers):
            line, lower = _LINES.get((name, value)) or _header_line(name, value)
            lines.append(line)
            if lower is not None and lower not in framing:  # the first of each wins
                framing[lower] = value
        self.started = True  # only now: a head refused above still lets the app's failure get its 500
        self.expect_continue = False
        chunked, length, close = False, None, False
        if framing:
            chunked = framing.get(b"transfer-encoding", b"").lower() == b"chunked"
            length = framing.get(b"content-length")
            close = b"close" in [t.strip() for t in framing.get(b"connection", b"").lower().split(b",")]
            if close:
                self.keep_alive = False
        if length is not None and not chunked:
            self.left = int(length)
        elif chunked or (self.scope["method"] != "HEAD" and status not in _NO_BODY_STATUS):
            self.chunked = True
            if not chunked:
                lines.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive and not close:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        self.head = b"".join(lines)
        self.proto.loop.call_soon(self._flush)  # at the latest at the end of this turn

    def _body(self, body: bytes, more_body: bool) -> None:
        parts = []
        head = self.head
        if head is not None:
            self.head = None
            parts.append(head)
        if self.scope["method"] == "HEAD":
            self.left = 0
        elif self.chunked:
            if body:
                parts += (b"%x\r\n" % len(body), body, b"\r\n")
            if not more_body:
                parts.append(b"0\r\n\r\n")
        else:
            if len(body) > self.left:
                raise RuntimeError("Response content longer than Content-Length")
            self.left -= len(body)
            parts.append(body)
        if parts:
            self.proto.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))
        if not more_body:
            if self.left:
                raise RuntimeError("Response content shorter than Content-Length")
            self.complete = True
            self.wake()
            if not self.keep_alive:
                self.proto.transport.close()
            self.proto.response_complete()

    def _flush(self) -> None:
        head = self.head
        if head is not None:
            self.head = None
            if not self.proto.transport.is_closing():
                self.proto.transport.write(head)

    async def _send_500(self) -> None:
        await self.send({"type": "http.response.start", "status": 500, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21"), (b"connection", b"close")]})
        await self.send({"type": "http.response.body", "body": b"Internal Server Error", "more_body": False})


class TooLarge(Cycle):
    """A request whose declared body is larger than `max_body_bytes`: answered 413 in its turn, the
    body unread (no `100 Continue`, the app not called), and the connection closed."""

    async def run(self, app: Any) -> None:
        proto = self.proto
        self.complete = True
        proto.active = None
        if not proto.transport.is_closing():
            proto.answer_and_close(413, "request_too_large",
                                   f"request body is larger than {proto.limits.max_body_bytes} bytes")
