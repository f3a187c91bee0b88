"""A fast mock OpenAI-compatible upstream for the benchmark.

    .venv/bin/python bench/mock_upstream.py --port 9101 [--cpu 1]

Answers ``POST /v1/chat/completions`` (also ``/chat/completions``) the way real providers do:

* non-streaming: one ``chat.completion`` JSON object with ``usage``, sent with Content-Length;
* ``"stream": true``: 20 ``data: {chat.completion.chunk}`` server-sent events (the first carries the
  role, the last the finish reason), a final usage chunk with ``choices: []`` and ``data: [DONE]``,
  sent with ``Transfer-Encoding: chunked``, one HTTP chunk per event.

It also answers ``GET /v1/models`` and ``GET /health``. HTTP/1.1 keep-alive is honoured (and
``Connection: close`` and HTTP/1.0 too), pipelined requests are answered in order.

It must never be the bottleneck of a benchmark, so it is a raw asyncio Protocol on uvloop with
httptools' parser: no framework, no per-request allocation beyond the request body and one
``bytes.replace`` to stamp a fresh completion id into a response prepared once per model. Each
response is handed to the kernel in a single write.

When it is listening it prints ``READY <port>`` on stdout (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import time
from typing import cast

import httptools

try:  # orjson is a hubroute dependency; fall back to json so the mock also runs elsewhere
    import orjson

    _loads = orjson.loads

    def _dumps(obj: object) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover
    _loads = json.loads

    def _dumps(obj: object) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


N_CHUNKS = 20
# 20 tokens of assistant text, one per streamed chunk; the non-streaming answer is their concatenation.
TOKENS = (
    "Hello",
    "!",
    " I",
    "'m",
    " a",
    " mock",
    " upstream",
    " answering",
    " for",
    " the",
    " hub",
    "route",
    " benchmark",
    ",",
    " twenty",
    " tokens",
    " long",
    " as",
    " promised",
    ".",
)
assert len(TOKENS) == N_CHUNKS
PROMPT_TOKENS = 12
ID_PLACEHOLDER = b"chatcmpl-XXXXXXXXXXXXXXXXXXXXXXXX"  # replaced by a unique id of the same length
SYSTEM_FINGERPRINT = "fp_mock_bench"

_counter = itertools.count(1)


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": N_CHUNKS,
        "total_tokens": PROMPT_TOKENS + N_CHUNKS,
    }


def _completion_body(model: str, created: int) -> bytes:
    return _dumps(
        {
            "id": ID_PLACEHOLDER.decode(),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(TOKENS), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }
    )


def _stream_events(model: str, created: int) -> list[bytes]:
    def chunk(choices: list[dict[str, object]], usage: dict[str, int] | None = None) -> bytes:
        obj: dict[str, object] = {
            "id": ID_PLACEHOLDER.decode(),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if usage is not None:
            obj["usage"] = usage
        return b"data: " + _dumps(obj) + b"\n\n"

    events = []
    for i, token in enumerate(TOKENS):
        delta: dict[str, object] = {"content": token}
        if i == 0:
            delta = {"role": "assistant", "content": token}
        last = i == N_CHUNKS - 1
        events.append(
            chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": "stop" if last else None}])
        )
    events.append(chunk([], _usage()))
    events.append(b"data: [DONE]\n\n")
    return events


def _head(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Responses:
    """Complete HTTP responses, prepared once per (model, stream, keep-alive) and cached."""

    def __init__(self) -> None:
        self.created = int(time.time())
        self._cache: dict[tuple[str, bool, bool, bool], bytes] = {}

    def chat(self, model: str, stream: bool, keep_alive: bool, http10: bool) -> bytes:
        key = (model, stream, keep_alive, http10)
        resp = self._cache.get(key)
        if resp is None:
            resp = self._build(*key)
            if len(self._cache) < 1024:  # bounded: a client sending random model names cannot grow it
                self._cache[key] = resp
        return resp.replace(ID_PLACEHOLDER, b"chatcmpl-%024x" % next(_counter))

    def _build(self, model: str, stream: bool, keep_alive: bool, http10: bool) -> bytes:
        conn = [("Connection", "keep-alive" if keep_alive else "close")] if http10 or not keep_alive else []
        if not stream:
            body = _completion_body(model, self.created)
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            return _head("200 OK", headers + conn) + body
        events = _stream_events(model, self.created)
        headers = [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")]
        if http10:  # no chunked encoding in HTTP/1.0: the body ends when the connection closes
            return _head("200 OK", [*headers, ("Connection", "close")]) + b"".join(events)
        body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
        return _head("200 OK", [*headers, ("Transfer-Encoding", "chunked"), *conn]) + body


def json_response(status: str, obj: object, keep_alive: bool) -> bytes:
    body = _dumps(obj)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return _head(status, headers) + body


def error_response(status: str, message: str, keep_alive: bool) -> bytes:
    err = {"error": {"message": message, "type": "invalid_request_error", "code": status.split()[0]}}
    return json_response(status, err, keep_alive)


CHAT_PATHS = frozenset((b"/v1/chat/completions", b"/chat/completions"))


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("_body", "_parser", "_responses", "_transport", "_url")

    def __init__(self, responses: Responses) -> None:
        self._responses = responses
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.write(error_response("400 Bad Request", "malformed HTTP request", False))
                self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        transport = self._transport
        if transport is None:
            return
        parser = self._parser
        keep_alive = parser.should_keep_alive()
        http10 = parser.get_http_version() == "1.0"
        method = parser.get_method()
        path = self._url.split(b"?", 1)[0]
        if method == b"POST" and path in CHAT_PATHS:
            resp, keep_alive = self._chat(keep_alive, http10)
        elif method == b"GET" and path == b"/health":
            resp = json_response("200 OK", {"status": "ok"}, keep_alive)
        elif method == b"GET" and path in (b"/v1/models", b"/models"):
            models = {"object": "list", "data": [{"id": "bench-model", "object": "model", "owned_by": "mock"}]}
            resp = json_response("200 OK", models, keep_alive)
        else:
            resp = error_response("404 Not Found", f"no route {method.decode()} {path.decode()}", keep_alive)
        transport.write(resp)
        if not keep_alive:
            transport.close()

    def _chat(self, keep_alive: bool, http10: bool) -> tuple[bytes, bool]:
        try:
            req = _loads(b"".join(self._body))
            model = req["model"]
            stream = req.get("stream") is True
            if not isinstance(model, str) or not isinstance(req.get("messages"), list):
                raise TypeError
        except (ValueError, TypeError, KeyError, AttributeError):
            msg = "body must be JSON with 'model' and 'messages'"
            return error_response("400 Bad Request", msg, keep_alive), keep_alive
        if stream and http10:
            keep_alive = False  # an HTTP/1.0 stream is delimited by closing the connection
        return self._responses.chat(model, stream, keep_alive, http10), keep_alive


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    responses = Responses()
    server = await loop.create_server(lambda: HttpProtocol(responses), host, port, backlog=4096)
    actual = server.sockets[0].getsockname()[1]
    print(f"READY {actual}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9101)
    ap.add_argument("--cpu", type=int, action="append", help="pin to this CPU (repeatable)")
    args = ap.parse_args(argv)
    if args.cpu:
        os.sched_setaffinity(0, set(args.cpu))
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        print("mock_upstream: uvloop not installed, using asyncio's loop", file=sys.stderr)
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
