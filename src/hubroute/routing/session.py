"""A committed stream, from its first event to its end, with the end's bookkeeping done once, here.

`Router.stream()` opens a stream with failover and returns a `StreamSession` once the first event
has arrived intact. The session gives out the stream as canonical SSE bytes (`data: <json>\\n\\n`
per event), batch by batch, normalised on the way: the adapter's chunk rewrite applied, `[DONE]`
taken off (`finished` says the last batch has come), the usage chunk noted and, when the client did
not ask for usage, left out. An error event inside the stream raises its `ProviderError` after the
events before it have been given out. Routes and clients only turn those bytes into their own
answer (the server's SSE relay, the client's decoded chunks, later other APIs' event shapes).

How it ended is settled in one place, `end()` (the session is an async context manager):

    done       the stream finished: the circuit closes, the speed figures learn, usage recorded
    error      an error event or a broken connection: counted as the provider's failure
    abandoned  the client went away or stopped reading: a half-open circuit's probe slot is freed
               (else the circuit would stay shut), usage recorded for what was generated

Usage is the provider's own when its usage chunk came (an explicit zero stays zero), else counted by
hubroute from what was relayed (see `hubroute.usage`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import orjson

from hubroute.errors import ProviderError, ProviderHTTPError, ProviderResponseError
from hubroute.usage import Usage

if TYPE_CHECKING:
    from types import TracebackType

    from hubroute.providers import Target
    from hubroute.routing.router import Router
    from hubroute.transport import EventBatches, SSEBatch, SSEEvent, UpstreamResponse

DONE = b"data: [DONE]\n\n"
Outcome = Literal["done", "error", "abandoned"]


class Frames:
    """Turns batches of upstream events into the canonical bytes given out, noting `[DONE]`, usage
    and errors on the way. Pure: no I/O, nothing raised (an error event is left in `error`)."""

    __slots__ = ("chunks", "error", "finished", "name", "provider", "rewrite", "usage", "wants_usage")

    def __init__(self, target: Target, wants_usage: bool) -> None:
        self.provider = target.provider
        self.name = target.name
        self.rewrite = target.provider.rewrites(target.task)
        self.wants_usage = wants_usage
        #: the provider's usage object, when its usage chunk came
        self.usage: Any = None
        #: content events given out so far
        self.chunks = 0
        #: [DONE] came
        self.finished = False
        self.error: ProviderError | None = None

    def frames(self, batch: SSEBatch) -> bytes:
        if batch.raw is not None and not self.rewrite:
            fast = self._frames_raw(batch.raw, batch.count)
            if fast is not None:
                return fast
        return self._frames(batch)

    def _frames_raw(self, raw: bytes, events: int) -> bytes | None:
        """The batch (`events` canonical events) given out as it came, scanned rather than parsed;
        None when it needs the per-event path (an error, or usage anywhere but in its last event)."""
        if b'"error"' in raw:
            return None
        # `finished` is set only once the fast path is sure: the per-event path must not find the
        # stream finished when an event before [DONE] fails
        if raw.endswith(DONE):
            raw, events, finished = raw[: -len(DONE)], events - 1, True
        else:
            done = raw.find(DONE)
            finished = done >= 0 and (done == 0 or raw[done - 2 : done] == b"\n\n")
            if finished:
                raw = raw[:done]  # what follows [DONE] is dropped
                events = raw.count(b"\n\n")
        if not raw:
            self.finished = finished
            return raw
        at = raw.rfind(b'"usage"')  # usage normally comes in the last event: found at once from the end
        if at >= 0:
            last = raw.rfind(b"data: ", 0, len(raw) - 2)
            if at < last or raw.find(b'"usage"', 0, last) >= 0:
                return None
            try:
                obj = orjson.loads(raw[last + 6 : -2])
            except orjson.JSONDecodeError:
                return None
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
        self.finished = finished
        return raw

    def _frames(self, batch: SSEBatch) -> bytes:
        out = []
        for event in batch.events:
            data = event.data
            if data == b"[DONE]":
                self.finished = True
                break
            error = stream_error(self.name, event)
            if error is not None:
                self.error = error  # what came before it in the batch still goes out
                break
            obj: Any = None
            try:
                if self.rewrite and data.startswith(b"{"):  # rewritten first: usage may appear only then
                    obj = self.provider.adapt_chunk(orjson.loads(data))
                elif b'"usage"' in data and b'"usage":null' not in data and b'"usage": null' not in data:
                    obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                self.error = ProviderResponseError(
                    f"{self.name} sent a stream event that is not valid JSON", provider=self.name,
                    status_code=200, body=data[:300].decode(errors="replace"))
                break
            except Exception as exc:  # the adapter could not read the event: its shape is not the API's
                self.error = ProviderResponseError(
                    f"{self.name} sent a stream event of an unexpected shape ({type(exc).__name__}: {exc})",
                    provider=self.name, status_code=200, body=data[:300].decode(errors="replace"))
                break
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


class ResponseFrames(Frames):
    """The frames of a provider's own Responses API stream (`providers.Provider.responses_route`): its
    events given out as they came (`data:` each; the `type` inside says what its `event:` line did),
    no `[DONE]` (the stream ends when the provider ends it), the usage read from the response that
    ends it (`response.completed`, `.incomplete`, `.failed`)."""

    __slots__ = ()

    def __init__(self, target: Target, wants_usage: bool) -> None:
        super().__init__(target, wants_usage)
        self.rewrite = False  # (the adapter's chunk rewrite is chat's)

    def frames(self, batch: SSEBatch) -> bytes:
        out = []
        for event in batch.events:
            error = stream_error(self.name, event)
            if error is not None:
                self.error = error
                break
            data = event.data
            if b'"response.completed"' in data or b'"response.incomplete"' in data or b'"response.failed"' in data:
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError:
                    obj = None
                ended = obj.get("response") if isinstance(obj, dict) else None
                if isinstance(ended, dict) and isinstance(ended.get("usage"), dict):
                    self.usage = ended["usage"]
            out.append(b"data: " + data + b"\n\n")
            self.chunks += 1
        return b"".join(out)


class StreamSession:
    """One committed stream. Iterate it for batches of bytes inside `async with`; read `usage` and
    `outcome` after."""

    __slots__ = ("_batch", "_count", "_pending", "_router", "_started", "errors", "frames", "outcome",
                 "response", "rest", "target", "ttfb", "usage")

    def __init__(self, router: Router, target: Target, first: SSEBatch, rest: EventBatches,
                 response: UpstreamResponse, ttfb: float, errors: list[ProviderError], *,
                 wants_usage: bool, count: Callable[[int], Usage] | None = None,
                 frames: type[Frames] = Frames) -> None:
        self._router = router
        self.target = target
        self.rest = rest
        self.response = response
        self.ttfb = ttfb
        #: failed attempts before this provider took the stream
        self.errors = errors
        #: the batches' translator: `frames.finished` once the last batch has been given out
        self.frames = frames(target, wants_usage)
        self._batch: SSEBatch | None = first
        self._count = count
        self._started = time.perf_counter()
        self._pending: ProviderError | None = None
        self.outcome: Outcome | None = None
        self.usage: Usage | None = None

    @property
    def finished(self) -> bool:
        """The last batch has been given out ([DONE] came, or the upstream closed the stream)."""
        return self.frames.finished

    @property
    def chunks(self) -> int:
        return self.frames.chunks

    # --- iteration ------------------------------------------------------------------------------
    def __aiter__(self) -> StreamSession:
        return self

    async def __anext__(self) -> bytes:
        frames = self.frames
        if frames.finished:
            raise StopAsyncIteration
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error
        batch = self._batch
        if batch is None:
            batch = await anext(self.rest, None)
            if batch is None:  # a close without [DONE] also ends the stream
                frames.finished = True
                return b""
        else:
            self._batch = None
        out = frames.frames(batch)
        if frames.error is not None:
            self._router.attempt_failed(self.target, frames.error)
            if not out:
                raise frames.error
            self._pending = frames.error  # what came before it goes out first; raised by the next call
        return out

    # --- the end --------------------------------------------------------------------------------
    async def __aenter__(self) -> StreamSession:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.end(exc)

    async def end(self, exc: BaseException | None = None) -> Outcome:
        """Settle how the stream ended (once): health, speed, usage; the upstream connection pooled
        when the stream finished cleanly, else closed."""
        if self.outcome is not None:
            return self.outcome
        frames = self.frames
        if isinstance(exc, ProviderError) and frames.error is None:
            frames.error = exc  # the connection broke or timed out mid-stream
            self._router.attempt_failed(self.target, exc)
        if frames.error is not None:
            outcome: Outcome = "error"
        elif frames.finished and exc is None:
            outcome = "done"
        else:
            outcome = "abandoned"
        self.outcome = outcome
        try:
            await self.response.finish(outcome == "done")
        finally:
            target = self.target
            key = (target.name, target.model)
            health = self._router.health
            usage = Usage.from_openai(frames.usage)
            if outcome == "done":
                health.success(key)
                seconds = time.perf_counter() - self._started
                tokens = usage.output_tokens if usage is not None else None
                health.observe(key, ttfb=self.ttfb, tokens=tokens if tokens is not None else frames.chunks,
                               seconds=seconds if seconds > 0 else None)
            elif outcome == "abandoned":
                health.release_probe(key)
            if usage is None and self._count is not None:
                usage = self._count(frames.chunks)
            self.usage = usage
        return outcome


def stream_error(provider: str, event: SSEEvent) -> ProviderError | None:
    """An error reported inside a 200 stream (`event: error`, or a data object with an `error` key)."""
    data = event.data
    if event.event != "error" and not data.startswith(b'{"error"') and b'"error"' not in data[:64]:
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        if event.event == "error":
            return ProviderHTTPError(provider=provider, status_code=502, body=data[:500].decode(errors="replace"))
        return None
    if not isinstance(obj, dict) or ("error" not in obj and event.event != "error"):
        return None
    err = obj.get("error", obj)
    status = 502
    if isinstance(err, dict):
        code = err.get("code") or err.get("status")
        if isinstance(code, int) and 400 <= code < 600:
            status = code
    return ProviderHTTPError(provider=provider, status_code=status, body=orjson.dumps(obj).decode())
