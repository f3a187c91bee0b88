"""POST /v1/chat/completions and POST /v1/completions: validate, route, relay.

The client's body passes to the provider as it came, but for the model id and the adapter's quirks;
every OpenAI parameter we do not know is forwarded untouched. Streams are relayed event by event as
they arrive (never buffered), with `data:[DONE]` normalised and error events inside a 200 stream
turned into one OpenAI-shaped error event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from hubroute.errors import ProviderError
from hubroute.providers import CHAT, TEXT_GENERATION, HttpRequest, Target
from hubroute.routing.router import Answer, Plan, stream_error
from hubroute.server.asgi import Ctx, Scope, parse_json_object, read_body, send_bytes
from hubroute.server.routes.common import record
from hubroute.server.routes.validate import validate_chat, validate_completion
from hubroute.transport import SSEBatch

if TYPE_CHECKING:
    from hubroute.server.app import App

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


async def chat_completions(app: App, ctx: Ctx, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    validate_chat(body)
    await _serve(app, ctx, receive, send, body, CHAT)


async def completions(app: App, ctx: Ctx, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    validate_completion(body)
    await _serve(app, ctx, receive, send, body, TEXT_GENERATION)


async def _serve(app: App, ctx: Ctx, receive: Any, send: Any, body: dict[str, Any], task: str) -> None:
    plan = await app.router.plan(body["model"], task)
    ctx.model = plan.model
    build: Callable[[Target], HttpRequest]
    if task == CHAT:
        def build(t: Target) -> HttpRequest:
            return t.provider.build_chat(body, t)

        def check(t: Target, data: Any) -> Any:
            return t.provider.check_chat(data)
    else:
        def build(t: Target) -> HttpRequest:
            return t.provider.build_completion(body, t)

        def check(t: Target, data: Any) -> Any:
            return t.provider.check_completion(data)

    if body.get("stream"):
        wants_usage = _wants_usage(body)
        if not wants_usage:
            # Ask for usage anyway (metering needs it); its extra chunk is not forwarded.
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        await relay_stream(app, ctx, plan, build, receive, send, wants_usage=wants_usage)
        return
    answer = await app.router.send(plan, build, check)
    _record(app, ctx, answer)
    await send_bytes(send, ctx, 200, answer.body)


class _Relay:
    """Turns a batch of upstream events into the bytes the client gets, noting usage on the way."""

    __slots__ = ("chunks", "done", "error", "provider", "rewrite", "usage", "wants_usage")

    def __init__(self, target: Target, wants_usage: bool) -> None:
        self.provider = target.provider
        self.rewrite = target.provider.rewrites(target.task)
        self.wants_usage = wants_usage
        self.usage: Any = None
        self.chunks = 0
        self.done = False
        self.error: ProviderError | None = None

    def frames(self, batch: SSEBatch) -> bytes:
        if batch.raw is not None and not self.rewrite:
            fast = self._frames_raw(batch.raw, batch.count)
            if fast is not None:
                return fast
        return self._frames(batch)

    def _frames_raw(self, raw: bytes, events: int) -> bytes | None:
        """The batch (`events` canonical events) forwarded as it came, scanned rather than parsed;
        None when it needs the per-event path (an error, or usage anywhere but in its last event)."""
        if b'"error"' in raw:
            return None
        if raw.endswith(DONE):
            raw, events, self.done = raw[: -len(DONE)], events - 1, True
        else:
            done = raw.find(DONE)
            if done >= 0 and (done == 0 or raw[done - 2 : done] == b"\n\n"):
                raw, self.done = raw[:done], True  # what follows [DONE] is dropped
                events = raw.count(b"\n\n")
        if not raw:
            return raw
        at = raw.rfind(b'"usage"')  # usage normally comes in the last event: found at once from the end
        if at >= 0:
            last = raw.rfind(b"data: ", 0, len(raw) - 2)
            if at < last or raw.find(b'"usage"', 0, last) >= 0:
                return None
            obj = orjson.loads(raw[last + 6 : -2])
            if not isinstance(obj, dict):
                return None
            usage = obj.get("usage")
            if isinstance(usage, dict):
                self.usage = usage
                if not self.wants_usage:
                    if obj.get("choices"):
                        del obj["usage"]
                        raw = raw[:last] + b"data: " + orjson.dumps(obj) + b"\n\n"
                    else:
                        raw, events = raw[:last], events - 1  # the usage-only chunk the client did not ask for
        self.chunks += events
        return raw

    def _frames(self, batch: SSEBatch) -> bytes:
        out = []
        for event in batch.events:
            data = event.data
            if data == b"[DONE]":
                self.done = True
                break
            error = stream_error(self.provider.name, event)
            if error is not None:
                self.error = error  # what came before it in the batch still goes out
                break
            obj: Any = None
            if self.rewrite and data.startswith(b"{"):  # rewritten first: usage may appear only then
                obj = self.provider.adapt_chunk(orjson.loads(data))
            elif b'"usage"' in data and b'"usage":null' not in data and b'"usage": null' not in data:
                obj = orjson.loads(data)
            if isinstance(obj, dict):
                if isinstance(obj.get("usage"), dict):
                    self.usage = obj["usage"]
                    if not self.wants_usage:
                        if not obj.get("choices"):
                            continue  # the usage-only chunk the client did not ask for
                        del obj["usage"]
                data = orjson.dumps(obj)
            self.chunks += 1
            out.append(b"data: " + data + b"\n\n")
        return b"".join(out)


def _wants_usage(body: dict[str, Any]) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


def _record(app: App, ctx: Ctx, answer: Answer) -> None:
    record(app, ctx, answer)
    usage = answer.data.get("usage") if isinstance(answer.data, dict) else None
    _usage(app, ctx, answer.target, usage)


def _usage(app: App, ctx: Ctx, target: Target, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int):
        ctx.prompt_tokens = prompt
    if isinstance(completion, int):
        ctx.completion_tokens = completion
    app.metrics.count_tokens(target.model, target.name, ctx.prompt_tokens, ctx.completion_tokens)


async def relay_stream(
    app: App, ctx: Ctx, plan: Plan, build: Callable[[Target], HttpRequest], receive: Any, send: Any,
    *, wants_usage: bool,
) -> None:
    answer = await app.router.stream(plan, build)
    target = answer.target
    key = (target.name, target.model)
    record(app, ctx, answer)

    ctx.status = 200
    await send({"type": "http.response.start", "status": 200, "headers": ctx.response_headers(SSE_HEADERS)})

    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch(task: asyncio.Task[Any]) -> None:
        # uvicorn drops writes to a closed connection silently: a disconnect is only seen here
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    started = time.perf_counter()
    relay = _Relay(target, wants_usage)
    try:
        batch: SSEBatch | None = answer.first
        while batch is not None:
            out = relay.frames(batch)
            if relay.error is not None:
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                raise relay.error
            if relay.done:  # [DONE] arrived: end with the last batch, in one write
                await send({"type": "http.response.body", "body": out + DONE, "more_body": False})
                break
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
            if watcher is None:  # only streams that have to wait for more need watching
                watcher = asyncio.create_task(watch(asyncio.current_task()))  # type: ignore[arg-type]
            batch = await anext(answer.rest, None)
        else:
            relay.done = True  # a close without [DONE] also ends the stream
            await send({"type": "http.response.body", "body": DONE, "more_body": False})
    except ProviderError as exc:
        ctx.error = exc.code
        app.router.attempt_failed(target, exc)
        body = orjson.dumps(exc.to_openai())
        await send({"type": "http.response.body", "body": b"data: " + body + b"\n\n", "more_body": False})
    except asyncio.CancelledError:
        if not gone:
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        ctx.error = "client_disconnected"
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await answer.response.finish(relay.done and ctx.error is None)
    if relay.done and ctx.error is None:
        app.health.success(key)
        seconds = time.perf_counter() - started
        tokens = relay.usage.get("completion_tokens") if isinstance(relay.usage, dict) else None
        app.health.observe(key, ttfb=answer.ttfb, tokens=tokens if isinstance(tokens, int) else relay.chunks,
                           seconds=seconds if seconds > 0 else None)
        _usage(app, ctx, target, relay.usage)
    elif ctx.error == "client_disconnected":
        app.health.release_probe(key)
