"""server/http.py, the router's HTTP/1.1 protocol, driven byte by byte: requests are fed to it as a
socket would deliver them, the app is a small ASGI callable, and the transport below it is a
recorder standing in for the socket, so what leaves, in how many writes, can be asserted. The
same protocol under the real server, over real sockets, is exercised by every e2e test and by
tests/e2e/test_http_server.py."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from hubroute.server.http import HttpProtocol, Limits

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
DATE = (b"date", b"Thu, 03 Dec 2026 08:00:00 GMT")


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.closed_at: float | None = None  # the loop's time at close
        self.eof = False  # our side ended (FIN), reading on
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True
        self.closed_at = asyncio.get_running_loop().time()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    @property
    def output(self) -> bytes:
        return b"".join(self.writes)


def connect(app: App, *, protocol: type[HttpProtocol] = HttpProtocol, state: ServerState | None = None,
            **options: Any) -> tuple[HttpProtocol, Recorder, ServerState]:
    """A connection to `app` (another one to the same server when given its `state`)."""
    config = uvicorn.Config(app, http=protocol, lifespan="off", proxy_headers=False, log_config=None, **options)
    if state is None:
        state = ServerState()
        state.default_headers = [DATE]
    proto = protocol(config, state, {}, asyncio.get_running_loop())
    sock = Recorder()
    proto.connection_made(sock)
    return proto, sock, state


async def settle(state: ServerState) -> None:
    """Until every request's task has finished (a few loop turns at most)."""
    for _ in range(100):
        await asyncio.sleep(0)
        if not state.tasks:
            await asyncio.sleep(0)  # the callbacks the last task scheduled
            return
    raise AssertionError("the app's tasks did not finish")


def json_app(body: bytes = b'{"ok":true}', status: int = 200) -> App:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app


POST = b"POST /v1/chat?x=1 HTTP/1.1\r\nhost: r\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def test_head_and_body_leave_in_one_write() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope=scope, message=await receive())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"Content-Type", b"application/json"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    proto, sock, state = connect(app)
    proto.data_received(POST)
    await settle(state)
    assert sock.writes == [b"HTTP/1.1 200 OK\r\ndate: Thu, 03 Dec 2026 08:00:00 GMT\r\n"
                           b"content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"]
    scope = seen["scope"]
    assert (scope["method"], scope["path"], scope["raw_path"], scope["query_string"]) == \
        ("POST", "/v1/chat", b"/v1/chat", b"x=1")
    assert scope["headers"] == [(b"host", b"r"), (b"content-type", b"application/json"), (b"content-length", b"2")]
    assert (scope["http_version"], scope["client"], scope["server"]) == \
        ("1.1", ("127.0.0.1", 50000), ("127.0.0.1", 8080))
    assert seen["message"] == {"type": "http.request", "body": b"{}", "more_body": False}
    assert not sock.closed and state.total_requests == 1


async def test_a_head_alone_leaves_at_the_end_of_the_turn() -> None:
    go = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await go.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    proto, sock, state = connect(app)
    proto.data_received(b"GET /s HTTP/1.1\r\nhost: r\r\n\r\n")
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(sock.writes) == 1 and sock.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n")
    go.set()
    await settle(state)
    assert sock.writes[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


async def test_a_streamed_answer_is_chunked_and_head_gets_no_body() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]
                    if scope["method"] == "HEAD" else []})
        await send({"type": "http.response.body", "body": b"hello" if scope["method"] == "HEAD" else b"ab",
                    "more_body": scope["method"] != "HEAD"})
        if scope["method"] != "HEAD":
            await send({"type": "http.response.body", "body": b"c"})

    proto, sock, state = connect(app)
    proto.data_received(b"GET / HTTP/1.1\r\nhost: r\r\n\r\n")
    await settle(state)
    assert sock.output.endswith(b"transfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n")
    proto, sock, state = connect(app)
    proto.data_received(b"HEAD / HTTP/1.1\r\nhost: r\r\n\r\n")
    await settle(state)
    assert sock.output.endswith(b"content-length: 5\r\n\r\n") and not sock.closed


async def test_pipelined_requests_are_answered_in_order() -> None:
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/slow":
            await release.wait()
        body = scope["path"].encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    proto, sock, state = connect(app)
    proto.data_received(b"GET /slow HTTP/1.1\r\nhost: r\r\n\r\nGET /fast HTTP/1.1\r\nhost: r\r\n\r\n")
    await asyncio.sleep(0.01)
    assert sock.writes == [] and len(proto.pipeline) == 1  # the second waits for the first's answer
    release.set()
    await settle(state)
    out = sock.output
    assert out.index(b"\r\n\r\n/slow") < out.index(b"\r\n\r\n/fast") and state.total_requests == 2


async def test_expect_continue_is_sent_when_the_body_is_asked_for() -> None:
    proto, sock, state = connect(json_app())
    proto.data_received(b"POST / HTTP/1.1\r\nhost: r\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n")
    await asyncio.sleep(0)
    assert sock.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]  # at once: the client waits for it
    proto.data_received(b"{}")
    await settle(state)
    assert sock.writes[1].startswith(b"HTTP/1.1 200 OK\r\n") and sock.writes[1].endswith(b'{"ok":true}')


async def test_a_request_body_in_pieces_pauses_reading_past_the_limit() -> None:
    got: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            got.append(await receive())
            if not got[-1]["more_body"]:
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    proto, sock, state = connect(app)
    big = b"x" * 70_000
    proto.data_received(b"POST / HTTP/1.1\r\nhost: r\r\ntransfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n"
                        % (len(big), big))
    assert not sock.reading  # more than 64 KiB waits unread: the socket is not read further
    await asyncio.sleep(0)
    assert sock.reading  # the app took it
    proto.data_received(b"3\r\nabc\r\n0\r\n\r\n")
    await settle(state)
    assert b"".join(m["body"] for m in got) == big + b"abc" and got[-1]["more_body"] is False
    assert sock.output.startswith(b"HTTP/1.1 204 No Content\r\n") and b"transfer-encoding" not in sock.output


async def test_a_malformed_request_gets_400_and_a_close(caplog: pytest.LogCaptureFixture) -> None:
    proto, sock, _state = connect(json_app())
    with caplog.at_level(logging.WARNING):
        proto.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    assert sock.output.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"connection: close\r\n" in sock.output
    assert sock.eof and "Invalid HTTP request" in caplog.text  # our side ended; the rest read and dropped


async def test_http_1_0_and_connection_close_end_the_connection() -> None:
    for request in (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\nhost: r\r\nconnection: close\r\n\r\n"):
        proto, sock, state = connect(json_app())
        proto.data_received(request)
        await settle(state)
        assert b"connection: close\r\n" in sock.output and sock.output.endswith(b'{"ok":true}') and sock.closed


async def test_the_app_saying_close_is_written_once() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"connection", b"Close"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    proto, sock, state = connect(app)
    proto.data_received(b"GET / HTTP/1.1\r\nhost: r\r\n\r\n")
    await settle(state)
    assert sock.output.lower().count(b"connection:") == 1 and sock.closed


async def test_the_client_going_away_reaches_receive() -> None:
    messages: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        messages.append(await receive())
        messages.append(await receive())  # waits: the body is all there, so only the end can come

    proto, _sock, state = connect(app)
    proto.data_received(POST)
    await asyncio.sleep(0.01)
    assert len(messages) == 1
    proto.connection_lost(None)
    await settle(state)
    assert messages[1] == {"type": "http.disconnect"} and not state.connections


async def test_receive_after_the_answer_is_a_disconnect() -> None:
    messages: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await json_app()(scope, receive, send)
        messages.append(await receive())

    proto, _sock, state = connect(app)
    proto.data_received(POST)
    await settle(state)
    assert messages == [{"type": "http.disconnect"}]


@pytest.mark.parametrize("header", [(b"x-bad", b"a\r\nset-cookie: x=1"), (b"bad name", b"v")])
async def test_a_header_that_would_split_the_head_is_refused(header: tuple[bytes, bytes],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [header]})

    proto, sock, state = connect(app)
    with caplog.at_level(logging.ERROR):
        proto.data_received(b"GET / HTTP/1.1\r\nhost: r\r\n\r\n")
        await settle(state)
    assert sock.output.startswith(b"HTTP/1.1 500 Internal Server Error\r\n") and b"set-cookie" not in sock.output
    assert sock.closed and "Invalid HTTP header" in caplog.text


async def test_an_app_failing_after_its_head_closes_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        raise ValueError("boom")

    proto, sock, state = connect(app)
    with caplog.at_level(logging.ERROR):
        proto.data_received(b"GET / HTTP/1.1\r\nhost: r\r\n\r\n")
        await settle(state)
    assert sock.output.startswith(b"HTTP/1.1 200 OK\r\n") and sock.output.endswith(b"abc") and sock.closed
    assert "Exception in ASGI application" in caplog.text


async def test_a_body_longer_than_its_length_is_an_error(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"abc"})

    proto, sock, state = connect(app)
    with caplog.at_level(logging.ERROR):
        proto.data_received(b"GET / HTTP/1.1\r\nhost: r\r\n\r\n")
        await settle(state)
    assert sock.closed and b"abc" not in sock.output and "longer than Content-Length" in caplog.text


async def test_an_idle_connection_closes_after_the_keep_alive_timeout() -> None:
    # Asserted against the loop's clock, not against sleeps, so that a loaded machine (a stalled
    # loop) cannot make it fail: what matters is when the close happened relative to the deadline.
    proto, sock, state = connect(json_app(), timeout_keep_alive=0.05)
    proto.data_received(POST)
    await settle(state)
    first = proto.idle_since
    assert first is not None and not sock.closed
    await asyncio.sleep(0.02)
    if not sock.closed:  # a loop stalled past the first deadline closed it, as it should have
        proto.data_received(POST)  # a request in time re-arms it
        await settle(state)
        assert proto.idle_since is not None and proto.idle_since > first
    rearmed = proto.idle_since
    for _ in range(200):
        if sock.closed:
            break
        await asyncio.sleep(0.01)
    assert sock.closed and sock.closed_at is not None
    assert rearmed + 0.05 - 0.002 <= sock.closed_at < rearmed + 0.05 + 1.0


async def test_graceful_shutdown_closes_idle_connections_and_busy_ones_after_their_answer() -> None:
    idle, idle_sock, _ = connect(json_app())
    idle.shutdown()
    assert idle_sock.closed
    release = asyncio.Event()

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        await json_app()(scope, receive, send)

    busy, sock, state = connect(slow)
    busy.data_received(POST)
    await asyncio.sleep(0)
    busy.shutdown()
    assert not sock.closed
    release.set()
    await settle(state)
    assert sock.output.endswith(b'{"ok":true}') and b"connection: close" in sock.output and sock.closed


async def test_checked_header_lines_are_cached_within_a_bound() -> None:
    from hubroute.server import http

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        rid = scope["path"].encode()  # a value that differs per request, as a request id does
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"X-Request-Id", rid), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    proto, sock, state = connect(app)
    for i in range(1500):
        proto.data_received(b"GET /%d HTTP/1.1\r\nhost: r\r\n\r\n" % i)
        await settle(state)
        assert sock.writes[-1].endswith(b"x-request-id: /%d\r\ncontent-length: 0\r\n\r\n" % i)
        assert len(http._LINES) <= 1024
    assert state.total_requests == 1500


# --- limits: what one connection may cost (server.idle_timeout, header_timeout, max_connections,
# max_header_line_bytes, max_head_bytes, max_header_count, max_request_bytes) -------------------------

def limited(app: App, **limits: Any) -> tuple[HttpProtocol, Recorder, ServerState]:
    return connect(app, protocol=HttpProtocol.configured(Limits(**limits)))


def refusal(sock: Recorder) -> tuple[int, dict[str, Any]]:
    """The status and JSON error of a refusal, which must end the connection (our side at once)."""
    head, _, body = sock.output.partition(b"\r\n\r\n")
    assert b"connection: close\r\n" in head + b"\r\n" and (sock.eof or sock.closed), sock.output[:300]
    assert b"\r\nx-request-id: r" in head and b"content-type: application/json\r\n" in head
    return int(head.split(b" ", 2)[1]), json.loads(body)


async def test_a_silent_connection_is_closed_after_the_idle_timeout() -> None:
    opened = asyncio.get_running_loop().time()
    _proto, sock, state = limited(json_app(), idle_timeout=0.05)
    assert len(state.connections) == 1
    for _ in range(200):
        if sock.closed:
            break
        await asyncio.sleep(0.01)
    assert sock.closed and sock.closed_at is not None and sock.writes == []  # nothing asked, nothing answered
    assert opened + 0.05 - 0.002 <= sock.closed_at < opened + 0.05 + 1.0  # by the loop's clock: not early


async def test_a_head_sent_byte_by_byte_is_cut_at_the_head_deadline() -> None:
    proto, sock, _state = limited(json_app(), idle_timeout=0.03, header_timeout=0.15)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for byte in b"GET / HTTP/1.1\r\nhost: r\r\nx-slow: " + b"a" * 100:
        if sock.eof:
            break
        proto.data_received(bytes([byte]))  # each byte in time for the idle timeout, the head never whole
        await asyncio.sleep(0.01)
    took = loop.time() - started
    status, error = refusal(sock)
    assert status == 408 and error["error"]["code"] == "request_timeout"
    assert 0.14 <= took < 0.5


async def test_a_head_deadline_holds_on_a_kept_alive_connection_too() -> None:
    proto, sock, state = limited(json_app(), header_timeout=0.05)
    proto.data_received(POST)
    await settle(state)
    proto.data_received(b"GET / HTTP/1.1\r\nhost")  # the next request's head, never finished
    await asyncio.sleep(0.1)
    assert refusal_status(sock) == 408


def refusal_status(sock: Recorder) -> int:
    last = sock.writes[-1]
    assert sock.eof and b"connection: close\r\n" in last
    return int(last.split(b" ", 2)[1])


async def test_a_huge_header_is_refused_once_the_head_limit_is_read() -> None:
    proto, sock, _state = limited(json_app(), max_head_bytes=4096)
    proto.data_received(b"GET / HTTP/1.1\r\nhost: r\r\nx-huge: ")
    fed = 0
    chunk = b"a" * 65536
    while not sock.eof and fed < 2048 * len(chunk):  # 128 MiB unless refused
        proto.data_received(chunk)
        fed += len(chunk)
    status, error = refusal(sock)
    assert status == 431 and error["error"]["code"] == "request_header_fields_too_large"
    assert fed == len(chunk)  # decided in the read that went past the limit
    assert proto.head_bytes <= 4096  # and the parser was never given more of the head than that
    answered = len(sock.writes)
    for _ in range(16):  # what the client still sends is dropped (its answer is on its way) ...
        proto.data_received(chunk)
    assert len(sock.writes) == answered and not sock.closed
    proto.data_received(chunk)  # ... up to 1 MiB, then the connection is closed
    assert sock.closed


async def test_a_head_within_its_limit_is_answered_with_its_body_in_the_same_read() -> None:
    got: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        got.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    proto, sock, state = limited(app, max_head_bytes=1024)
    body = b"x" * 100_000  # the read is far beyond the head's limit, the head is not
    proto.data_received(b"POST / HTTP/1.1\r\nhost: r\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    await settle(state)
    assert got == [body] and sock.output.startswith(b"HTTP/1.1 204 No Content\r\n") and not sock.closed


@pytest.mark.parametrize(("head", "status", "code"), [
    (b"GET / HTTP/1.1\r\nhost: r\r\nx-long: " + b"a" * 600 + b"\r\n\r\n", 431, "request_header_fields_too_large"),
    (b"GET / HTTP/1.1\r\n" + b"x-a: 1\r\n" * 11 + b"\r\n", 431, "request_header_fields_too_large"),
    (b"GET /" + b"a" * 600 + b" HTTP/1.1\r\nhost: r\r\n\r\n", 414, "uri_too_long"),
])
async def test_a_long_line_or_too_many_headers_are_refused(head: bytes, status: int, code: str) -> None:
    proto, sock, state = limited(json_app(), max_header_line_bytes=512, max_header_count=10)
    proto.data_received(head)
    await settle(state)
    got, error = refusal(sock)
    assert (got, error["error"]["code"]) == (status, code) and error["error"]["type"] == "invalid_request_error"
    assert state.total_requests == 0  # the app never saw it


async def test_ten_headers_and_a_line_at_the_limit_are_accepted() -> None:
    proto, sock, state = limited(json_app(), max_header_line_bytes=512, max_header_count=10)
    proto.data_received(b"GET / HTTP/1.1\r\n" + b"x-a: 1\r\n" * 9 + b"x-b: " + b"a" * 507 + b"\r\n\r\n")
    await settle(state)
    assert sock.output.startswith(b"HTTP/1.1 200 OK\r\n") and not sock.closed


async def test_a_declared_length_beyond_the_limit_gets_413_without_continue() -> None:
    asked: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        asked.append(scope["path"])
        await json_app()(scope, receive, send)

    proto, sock, state = limited(app, max_body_bytes=1000)
    proto.data_received(b"POST / HTTP/1.1\r\nhost: r\r\nexpect: 100-continue\r\ncontent-length: 1001\r\n\r\n")
    await settle(state)
    assert b"100 Continue" not in sock.output and asked == []
    status, error = refusal(sock)
    assert status == 413 and error["error"]["code"] == "request_too_large"
    proto.data_received(b"x" * 1001)  # a body sent anyway is dropped
    await settle(state)
    assert asked == [] and sock.output.count(b"HTTP/1.1") == 1
    proto, sock, state = limited(app, max_body_bytes=1000)  # at the limit: asked for and answered
    proto.data_received(b"POST / HTTP/1.1\r\nhost: r\r\ncontent-length: 1000\r\n\r\n" + b"x" * 1000)
    await settle(state)
    assert sock.output.startswith(b"HTTP/1.1 200 OK\r\n") and asked == ["/"]


async def test_at_the_connection_cap_the_least_recently_used_idle_one_makes_room() -> None:
    protocol = HttpProtocol.configured(Limits(max_connections=2))
    first, first_sock, state = connect(json_app(), protocol=protocol)
    second, second_sock, _ = connect(json_app(), protocol=protocol, state=state)
    first.data_received(POST)  # answered: the first is now the more recently used
    await settle(state)
    third, third_sock, _ = connect(json_app(), protocol=protocol, state=state)
    assert second_sock.closed and not first_sock.closed and not third_sock.closed
    second.connection_lost(None)
    third.data_received(POST)
    await settle(state)
    assert third_sock.output.startswith(b"HTTP/1.1 200 OK\r\n") and len(state.connections) == 2


async def test_at_the_connection_cap_with_every_connection_busy_a_new_one_gets_503() -> None:
    release = asyncio.Event()

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        await json_app()(scope, receive, send)

    protocol = HttpProtocol.configured(Limits(max_connections=2))
    busy = [connect(slow, protocol=protocol)]
    state = busy[0][2]
    busy.append(connect(slow, protocol=protocol, state=state))
    for proto, _sock, _ in busy:
        proto.data_received(POST)
    await asyncio.sleep(0)
    _refused, refused_sock, _ = connect(slow, protocol=protocol, state=state)
    status, error = refusal(refused_sock)
    assert status == 503 and error["error"]["code"] == "too_many_connections"
    assert b"retry-after: 1\r\n" in refused_sock.output and len(state.connections) == 2
    release.set()
    await settle(state)
    assert all(sock.output.startswith(b"HTTP/1.1 200 OK\r\n") and not sock.closed for _, sock, _ in busy)


def test_the_limits_come_from_the_config_and_the_stock_stack_gets_what_uvicorn_offers() -> None:
    from hubroute.config import Settings
    from hubroute.server.app import App
    from hubroute.server.serve import uvicorn_config

    server = ("server:\n  idle_timeout: 2\n  header_timeout: 3\n  keep_alive_timeout: 4\n  max_connections: 50\n"
              "  max_header_line_bytes: 1000\n  max_head_bytes: 5000\n  max_header_count: 6\n"
              "  max_request_bytes: 7000\n")
    settings = Settings.parse(server, {})
    config = uvicorn_config(App(settings, environ={}), settings)
    assert config.http.limits == Limits(2, 3, 50, 1000, 5000, 6, 7000)  # type: ignore[union-attr]
    assert (config.timeout_keep_alive, config.limit_concurrency) == (4, None)
    settings = Settings.parse(server + "  http_stack: stock\n", {})
    config = uvicorn_config(App(settings, environ={}), settings)
    assert (config.http, config.timeout_keep_alive, config.limit_concurrency) == ("httptools", 4, 50)


async def test_a_head_in_pieces_is_refused_once_its_headers_pass_the_limits_not_at_its_end() -> None:
    proto, sock, _state = limited(json_app(), max_header_line_bytes=512, max_header_count=10)
    proto.data_received(b"GET / HTTP/1.1\r\n")
    for _ in range(11):
        proto.data_received(b"x-a: 1\r\n")
    assert sock.writes == []  # the 11th is parsed only when the next line starts
    proto.data_received(b"x")
    assert refusal(sock)[0] == 431
    proto, sock, _state = limited(json_app(), max_header_line_bytes=512, max_header_count=10)
    proto.data_received(b"GET / HTTP/1.1\r\nx-long: " + b"a" * 600)
    proto.data_received(b"\r\nx")
    assert refusal(sock)[0] == 431
