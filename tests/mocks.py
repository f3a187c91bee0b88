"""Mock providers: real HTTP servers on 127.0.0.1 that speak a provider's wire format.

Tests enqueue the replies a provider should give (`enqueue(json_reply(...))`, `sse_reply(...)`,
`hang()`, ...); with nothing queued, it answers like an OpenAI-compatible provider would. Every
request it receives is recorded (method, path, headers, body) so tests can assert what the router
sent. Only the remote providers are mocked; everything of ours runs for real.

`GET .../v1/models`, which the router sends an OpenAI-compatible server of its config at start and
then in the background (`routing.discovery`), is answered apart: an OpenAI model list of `models`
(or `models_reply` when set), recorded in `listed`, never taking a queued reply nor counted in
`received`, so tests of inference requests see only those.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

from tests.ports import free_port


@dataclass
class Received:
    method: str
    path: str
    query: str
    #: case-insensitive, as HTTP header names are
    headers: CIMultiDict[str]
    body: bytes
    #: the router's end of the connection (host, port): equal peers mean a reused connection
    peer: tuple[str, int] | None = None

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


Reply = Callable[[web.Request, "MockProvider"], Any]


def chat_completion(content: str = "Hello from the mock", model: str = "mock-model", **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
        **extra,
    }


def chunk(content: str | None = None, *, finish: str | None = None, usage: dict[str, int] | None = None,
          choices: bool = True, model: str = "mock-model") -> bytes:
    obj: dict[str, Any] = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000,
                           "model": model}
    obj["choices"] = [{"index": 0, "delta": {"content": content} if content is not None else {},
                       "finish_reason": finish}] if choices else []
    if usage is not None:
        obj["usage"] = usage
    return orjson.dumps(obj)


def stream_events(words: list[str], *, usage: bool = True, done: bytes = b"data: [DONE]") -> list[bytes]:
    """Raw SSE frames of a typical provider stream."""
    frames = [b"data: " + chunk(w) for w in words]
    frames.append(b"data: " + chunk(finish="stop"))
    if usage:
        frames.append(b"data: " + chunk(choices=False, usage={"prompt_tokens": 7, "completion_tokens": len(words),
                                                              "total_tokens": 7 + len(words)}))
    if done:
        frames.append(done)
    return frames


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None,
               content_type: str = "application/json") -> Reply:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        return web.Response(body=raw, status=status, headers=headers, content_type=content_type)

    return reply


def sse_reply(frames: list[bytes], *, delay: float = 0.0, break_after: int | None = None,
              status: int = 200, first_delay: float = 0.0, headers: dict[str, str] | None = None) -> Reply:
    """Send `frames` (each an SSE event without its blank line) with `delay` between them;
    `break_after=N` drops the connection after N frames, as a crashing upstream would."""

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"content-type": "text/event-stream", **(headers or {})})
        await resp.prepare(request)
        if first_delay:
            await asyncio.sleep(first_delay)
        for i, frame in enumerate(frames):
            if break_after is not None and i >= break_after:
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(frame + b"\n\n")
            if delay:
                await asyncio.sleep(delay)
        await resp.write_eof()
        return resp

    return reply


def hang(seconds: float = 30.0) -> Reply:
    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=504)

    return reply


def drop() -> Reply:
    """Close the connection without answering."""

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)

    return reply


@dataclass
class MockProvider:
    name: str = "mock"
    default: Reply | None = None
    queue: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    started_at: float = field(default_factory=time.monotonic)
    #: the ids its `GET /v1/models` lists
    models: list[str] = field(default_factory=lambda: ["mock-model"])
    #: how `GET /v1/models` is answered instead (an error, a hang, another shape), when set
    models_reply: Reply | None = None
    #: the `GET /v1/models` requests it received
    listed: list[Received] = field(default_factory=list)

    def enqueue(self, *replies: Reply) -> MockProvider:
        self.queue.extend(replies)
        return self

    @property
    def hits(self) -> int:
        return len(self.received)

    @property
    def posts(self) -> int:
        """The POST requests received: the calls a router makes for its clients' requests (what a
        test of failover counts; a stray GET, which CI saw twice from no test of its own, is not one)."""
        return sum(1 for r in self.received if r.method == "POST")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        received = Received(request.method, request.path, request.query_string, CIMultiDict(request.headers),
                            body, peer)
        if request.method == "GET" and _MODEL_LIST.fullmatch(request.path):
            self.listed.append(received)
            return await (self.models_reply or _model_list)(request, self)
        self.received.append(received)
        reply = self.queue.pop(0) if self.queue else (self.default or _default_reply)
        result: web.StreamResponse = await reply(request, self)
        return result

    async def start(self, port: int = 0, sock: socket.socket | None = None) -> str:
        """Listen on 127.0.0.1 (a port of this test worker's own, tests/ports.py, or `port` to come back
        where it was after `stop()`), or on a listening `sock` given."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site: web.BaseSite = (web.SockSite(self._runner, sock) if sock
                              else web.TCPSite(self._runner, "127.0.0.1", port or free_port()))
        await site.start()
        server = site._server
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


#: an OpenAI-compatible server's model list: `/v1/models` under any prefix
_MODEL_LIST = re.compile(r"(/[^/]+)*/v\d+/models")


def model_list(*ids: str) -> dict[str, Any]:
    """An OpenAI model list, as vLLM sends it."""
    return {"object": "list", "data": [{"id": i, "object": "model", "created": 1700000000, "owned_by": "vllm",
                                         "root": i, "parent": None, "max_model_len": 32768} for i in ids]}


async def _model_list(request: web.Request, mock: MockProvider) -> web.StreamResponse:
    return web.json_response(model_list(*mock.models))


async def _default_reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
    body = await request.read()
    payload = orjson.loads(body) if body else {}
    if payload.get("stream"):
        return await sse_reply(stream_events(["Hello", " from", " the", " mock"]))(request, mock)
    return web.json_response(chat_completion(model=payload.get("model", "mock-model")))
