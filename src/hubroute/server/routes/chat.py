"""POST /v1/chat/completions and POST /v1/completions: validate, route, relay.

The client's body passes to the provider as it came, but for the model id and the adapter's quirks;
every OpenAI parameter we do not know is forwarded untouched. A stream goes down to `routing/` once
(`routing.openai.stream`) and comes back as a session whose batches are written as they arrive
(never buffered), ended by `data: [DONE]`, or by one OpenAI-shaped error event when the provider
fails mid-stream (a broken connection, an error event, an event that cannot be read), when anything
of ours fails (`internal_error`, one line in the log) or when a shutdown reaches
`server.shutdown_timeout` (`server_shutting_down`); the session settles health and usage itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypedDict, TypeVar

import msgspec
import orjson

from hubroute.errors import HubrouteError, ProviderResponseError
from hubroute.routing import openai
from hubroute.routing.session import DONE, StreamSession
from hubroute.server.asgi import Scope, parse_json_object, read_body, send_bytes
from hubroute.server.routes.validate import validate_chat, validate_completion

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

log = logging.getLogger("hubroute.server")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def chat_completions(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    validate_chat(body)
    await serve_openai(app, ctx, receive, send, body, openai.CHAT_API)


async def completions(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    validate_completion(body)
    await serve_openai(app, ctx, receive, send, body, openai.COMPLETIONS_API)


async def serve_openai(app: App, ctx: RequestRecord, receive: Any, send: Any, body: dict[str, Any],
                       api: openai.Api) -> None:
    plan = await app.plan(ctx, body["model"], api.task, body)
    if body.get("stream"):
        session = await openai.stream(app.router, plan, api, body)
        await relay_stream(ctx, session, receive, send)
        return
    answer = await openai.send(app.router, plan, api, body)
    ctx.served(answer.target, answer.ttfb, answer.errors)
    ctx.used(answer.usage, answer.target.pricing)
    await send_bytes(send, ctx, 200, answer.body if api is not openai.EMBEDDINGS_API else orjson.dumps(answer.data))


class Shape:
    """How a stream reaches the client: OpenAI's events as they came, ended by `data: [DONE]` (this
    class); another API's shape translates each batch of them (`routes/messages.py`,
    `routes/responses.py`). A shape with `rounds` may continue the answer with further streams
    (`follow`): the Responses API's MCP tools, run between the model's turns."""

    headers = SSE_HEADERS
    #: whether the answer may go on after a stream finished (`follow`); read once a stream, never a batch
    rounds = False
    #: an event sent when the provider has sent nothing for `keepalive_every` seconds (b"": none)
    keepalive = b""
    keepalive_every = 5.0

    def begin(self) -> bytes:
        """What goes out before the first batch."""
        return b""

    def batch(self, out: bytes) -> bytes:
        """A batch of canonical events (`data: <json>\\n\\n` each), as the client gets it."""
        return out

    async def follow(self, session: StreamSession, write: Callable[[bytes], Awaitable[None]]) -> StreamSession | None:
        """`session` finished and all it gave is out (only with `rounds`): the stream that continues the
        answer, opened after `write`-ing what goes between the two; None: the answer ends with `session`."""
        return None

    def sessions(self, session: StreamSession) -> Sequence[StreamSession]:
        """The streams the answer was made of, `session` the last (only with `rounds`: others than it)."""
        return (session,)

    async def settle(self, session: StreamSession) -> None:
        """The stream finished (`session.usage` is known); its end is about to go out."""

    def end(self, session: StreamSession) -> bytes:
        """What ends a stream that finished."""
        return DONE

    def error(self, status: int, body: dict[str, Any], session: StreamSession) -> bytes:
        """The one event that ends a stream cut by an error (`body`: its OpenAI-shaped error)."""
        return b"data: " + orjson.dumps(body) + b"\n\n"


OPENAI = Shape()


class Translator(Protocol):
    def chunk(self, chunk: dict[str, Any]) -> bytes: ...


# What a translator reads of a chat chunk. A batch is decoded into these (plain dicts holding only
# these keys; a provider's other fields are skipped, not made into objects: 40% of a text stream's
# parse). `| None` where providers send null. What does not fit is read event by event: an event that
# is not an object is skipped; an object of another shape (`choices` that is not a list, a choice
# that is not an object...), or an event that is not JSON, ends the stream as the provider's failure.
class _Function(TypedDict, total=False):
    name: Any
    arguments: Any


class _Call(TypedDict, total=False):
    index: Any
    id: Any
    function: _Function | None


class _Delta(TypedDict, total=False):
    content: Any
    reasoning_content: Any
    reasoning: Any
    tool_calls: list[_Call] | None


class _Choice(TypedDict, total=False):
    delta: _Delta | None
    finish_reason: Any


class _Chunk(TypedDict, total=False):
    choices: list[_Choice] | None


_read_chunks = msgspec.json.Decoder(list[_Chunk]).decode
_read_chunk = msgspec.json.Decoder(_Chunk).decode


class Unreadable(ValueError):
    """A stream event a translated shape cannot read (the provider's failure: `relay_stream` says
    whose); `before`: the events made of the chunks that came before it in its batch."""

    before = b""


def _chunks_one_by_one(out: bytes) -> tuple[list[Any], Unreadable | None]:
    """The chunks of a batch read event by event, up to the first that cannot be read (and why)."""
    chunks = []
    for frame in out.split(b"\n\n"):
        if frame[:6] != b"data: " or frame == b"data: [DONE]":
            continue
        try:
            chunks.append(_read_chunk(frame[6:]))
        except msgspec.ValidationError as exc:
            if orjson.loads(frame[6:]).__class__ is dict:  # (anything but an object is no chunk: skipped)
                return chunks, Unreadable(f"a stream event of an unexpected shape ({exc})")
        except msgspec.DecodeError:
            return chunks, Unreadable("a stream event that is not valid JSON")
    return chunks, None


T = TypeVar("T", bound=Translator)


class Translated(Shape, Generic[T]):
    """A shape that gives each chat chunk as another API's events: `stream.chunk(chunk)` makes them."""

    stream: T

    def batch(self, out: bytes) -> bytes:
        if not out:
            return b""
        translate = self.stream.chunk
        try:  # canonical events (`data: <json>\n\n` each): read as one JSON array, one parse a batch
            chunks: list[Any] = _read_chunks(b"[" + out[6:-2].replace(b"\n\ndata: ", b",") + b"]")
        except msgspec.DecodeError:  # (anything else in it: event by event)
            chunks, unreadable = _chunks_one_by_one(out)
            if unreadable is not None:
                unreadable.before = b"".join([translate(chunk) for chunk in chunks])
                raise unreadable from None
        return b"".join([translate(chunk) for chunk in chunks])


async def relay_stream(ctx: RequestRecord, session: StreamSession, receive: Any, send: Any,
                       shape: Shape = OPENAI) -> None:
    """Write a committed stream to the client as it arrives, in `shape`; the record learns how it ended.
    A shape with `rounds` may continue the answer with further streams (it keeps them: `sessions`):
    the record is served by the first and uses what they all used."""
    ctx.served(session.target, session.ttfb, session.errors)
    ctx.status = 200
    await send({"type": "http.response.start", "status": 200, "headers": ctx.response_headers(shape.headers)})

    gone = False
    watcher: asyncio.Task[None] | None = None
    pinger: asyncio.Task[None] | None = None

    async def watch(task: asyncio.Task[Any]) -> None:
        # uvicorn drops writes to a closed connection silently: a disconnect is only seen here
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    async def ping() -> None:
        # the shape's keepalive, when no chunk came for a while (nothing is counted a batch: the
        # provider's chunks are, by the session)
        seen = -1
        while True:
            await asyncio.sleep(shape.keepalive_every)
            if session.frames.chunks == seen:
                with contextlib.suppress(Exception):  # (the stream may have ended meanwhile)
                    await send({"type": "http.response.body", "body": shape.keepalive, "more_body": True})
            seen = session.frames.chunks

    try:
        try:
            first = shape.begin()
            following: StreamSession | None = session
            while following is not None:
                session, following = following, None
                frames = session.frames
                async for out in session:
                    try:
                        out = first + shape.batch(out) if first else shape.batch(out)
                    except Unreadable as exc:  # what came before it goes out, then the provider's failure
                        if first or exc.before:
                            await send({"type": "http.response.body", "body": first + exc.before, "more_body": True})
                        name = session.target.name
                        raise ProviderResponseError(f"{name} sent {exc}", provider=name, status_code=200) from None
                    first = b""
                    if frames.finished:  # the last batch: written with the end, in one write
                        if pinger is not None:
                            pinger.cancel()
                            pinger = None
                        await session.end()
                        if shape.rounds:
                            write = _writer(send)
                            await write(out)
                            out = b""
                            if watcher is None:  # (the next stream may be a while coming)
                                watcher = asyncio.create_task(watch(asyncio.current_task()))  # type: ignore[arg-type]
                            following = await shape.follow(session, write)
                            if following is not None:
                                break
                        await shape.settle(session)
                        out += shape.end(session)
                        await send({"type": "http.response.body", "body": out, "more_body": False})
                        break
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                    if watcher is None:  # only streams that have to wait for more need watching
                        watcher = asyncio.create_task(watch(asyncio.current_task()))  # type: ignore[arg-type]
                        if shape.keepalive:
                            pinger = asyncio.create_task(ping())
        except BaseException as exc:  # (`async with session`, without its two extra coroutines)
            await session.end(exc)
            raise
        await session.end()
    except HubrouteError as exc:
        ctx.error = exc.code
        await _end_with(send, shape.error(exc.status, exc.to_openai(), session))
    except asyncio.CancelledError:
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        if gone:
            ctx.error = "client_disconnected"
        else:  # the server cancelled it: a shutdown that reached server.shutdown_timeout
            ctx.error = "server_shutting_down"
            await _end_with(send, shape.error(503, {"error": {
                "message": "The router is shutting down: the stream was cut short. Send the request again.",
                "type": "server_error", "code": "server_shutting_down"}}, session))
    except Exception as exc:  # our own failure mid-stream: one line in the log, a well-formed end for the client
        log.error("stream relay failed in %s (request %s): %s: %s", ctx.path, ctx.request_id,
                  type(exc).__name__, exc)
        ctx.error = "internal_error"
        await _end_with(send, shape.error(500, {"error": {"message": f"internal error (request id {ctx.request_id})",
                                                          "type": "server_error", "code": "internal_error"}},
                                                session))
    finally:
        for task in (pinger, watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if shape.rounds:
            ctx.used_in_rounds([(s.usage, s.target.pricing) for s in shape.sessions(session)])
        else:
            ctx.used(session.usage, session.target.pricing)


def _writer(send: Any) -> Callable[[bytes], Awaitable[None]]:
    """What writes a part of a stream's body (nothing, for no bytes)."""
    async def write(out: bytes) -> None:
        if out:
            await send({"type": "http.response.body", "body": out, "more_body": True})
    return write


async def _end_with(send: Any, event: bytes) -> None:
    """End a started stream with one error event (no [DONE])."""
    await send({"type": "http.response.body", "body": event, "more_body": False})
