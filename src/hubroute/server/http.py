"""The router's HTTP/1.1 protocol: uvicorn's server, sockets and lifecycle, with a leaner request cycle.

uvicorn runs the process (listening sockets, signals, lifespan, graceful shutdown, the Date header)
and takes its HTTP protocol as a class (`uvicorn.Config(http=...)`). Its httptools protocol costs
119k instructions per request here with a bare ASGI app answering a fixed body, this one 97k (the
router's own streamed request: 518k -> 486k when it came in). It speaks the same HTTP/1.1 over the
same parser (llhttp, via httptools) with what the router does not use left out (WebSocket upgrades,
uvicorn's access log, `limit_concurrency`) and the per-request work cut down:

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
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import deque
from typing import Any

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


class HttpProtocol(asyncio.Protocol):
    """One client connection: parses requests, runs the app for each, one at a time, in order."""

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
        self.keep_alive_timer: asyncio.TimerHandle | None = None
        #: when the connection last fell idle (its last answer sent, nothing received since), or None
        self.idle_since: float | None = None
        #: the request being parsed, the one being answered, and those waiting behind it
        self.cycle: Cycle | None = None
        self.active: Cycle | None = None
        self.pipeline: deque[Cycle] = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_continue = False

    # --- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.server_state.connections.add(self)  # type: ignore[arg-type]
        self.transport = transport  # type: ignore[assignment]
        self.flow = FlowControl(self.transport)
        self.server = get_local_addr(self.transport)
        self.client = get_remote_addr(self.transport)
        self.scheme = "https" if is_ssl(self.transport) else "http"

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        for cycle in (self.active, self.cycle, *self.pipeline):
            if cycle is not None and not cycle.complete:
                cycle.disconnected = True
                cycle.wake()
        if self.flow is not None:
            self.flow.resume_writing()
        if exc is None:
            self.transport.close()
        if self.keep_alive_timer is not None:
            self.keep_alive_timer.cancel()
            self.keep_alive_timer = None
        self.parser = None  # type: ignore[assignment]

    def eof_received(self) -> None:
        pass  # the transport closes itself, as under uvicorn

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            log.warning("Invalid HTTP request received.")
            self._send_400("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            log.warning("Unsupported upgrade request.")  # answered as a plain request, as uvicorn does

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    # --- llhttp callbacks -----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
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
        cycle = self.cycle = Cycle(self, scope, keep_alive, self.expect_continue)
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
        self.idle_since = self.loop.time()
        if self.keep_alive_timer is None:  # one timer per idle period, not one per request
            self.keep_alive_timer = self.loop.call_later(self.keep_alive_timeout, self._keep_alive_check)

    def shutdown(self) -> None:
        """Graceful shutdown (called by uvicorn's server): close when idle, else after this answer."""
        if self.active is None:
            self.transport.close()
        else:
            self.active.keep_alive = False

    def _keep_alive_check(self) -> None:
        """Close a connection idle for `timeout_keep_alive` seconds. A connection that received
        data since it fell idle is busy: the timer is armed again when its answer has been sent."""
        self.keep_alive_timer = None
        if self.idle_since is None or self.transport.is_closing():
            return
        left = self.idle_since + self.keep_alive_timeout - self.loop.time()
        if left > 0:
            self.keep_alive_timer = self.loop.call_later(left, self._keep_alive_check)
        else:
            self.transport.close()

    def _send_400(self, msg: str) -> None:
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend((name, b": ", value, b"\r\n"))
        content.append(b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                       b"connection: close\r\n\r\n%s" % (len(msg), msg.encode("ascii")))
        self.transport.write(b"".join(content))
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
