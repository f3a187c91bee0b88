"""Driving a task's exchange with one provider: the steps an adapter returns (`providers.steps`),
sent one after the other, with the waits between status polls and the bounds of the whole job.

    run_job(transport, first, provider, timeouts, settings) -> Outcome

A step's URL on the host the job was submitted to (the provider's configured endpoint) is sent as
it is; any other (a result to download, a polling URL the provider answered with) and every redirect
must pass the address rules of client-given URLs (`Transport.open_checked`, `inputs:`), so that a
provider's answer cannot make the router fetch its own loopback, private network or cloud metadata.

Waits are `asyncio.sleep`: a thousand jobs polling at once cost a thousand timers, no thread. A job
that does not finish within `jobs.max_wait` seconds or `jobs.max_polls` polls fails as a
`ProviderTimeout`, like a provider that does not answer, so failover moves on to the next provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from hubroute.errors import ProviderResponseError, ProviderTimeout
from hubroute.providers.steps import Done, Media, Next
from hubroute.transport import Timeouts, Transport, UpstreamResponse, origin_of

if TYPE_CHECKING:
    from hubroute.config import JobSettings


class MediaStream:
    """A media answer being received: relayed as it arrives, at most `limit` bytes."""

    __slots__ = ("content_type", "length", "limit", "provider", "response")

    def __init__(self, response: UpstreamResponse, limit: int) -> None:
        self.response = response
        self.provider = response.provider
        self.content_type = response.content_type or "application/octet-stream"
        length = response.headers.get("content-length")
        self.length = int(length) if length and length.isdigit() else None
        self.limit = limit

    async def chunks(self) -> AsyncIterator[bytes]:
        size = 0
        try:
            async for chunk in self.response.chunks():
                size += len(chunk)
                if size > self.limit:
                    raise ProviderResponseError(
                        f"{self.provider}'s result is larger than {self.limit} bytes",
                        provider=self.provider, status_code=self.response.status,
                    )
                yield chunk
        finally:
            await self.close()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def close(self) -> None:
        if self.response.at_eof:
            await self.response.release()
        else:
            await self.response.close()


#: what a job ends with: the task's JSON output, media held in memory, or media still arriving
Outcome = Done | MediaStream


def is_media(content_type: str) -> bool:
    """Whether an answer of this content type is a task's media output rather than a document."""
    return bool(content_type) and not (
        content_type.startswith("text/") or content_type == "application/json" or content_type.endswith("+json")
    )


async def run_job(
    transport: Transport, first: Next, provider: str, timeouts: Timeouts, settings: JobSettings,
    *, deadline: float | None = None,
) -> Outcome:
    """Send `first` and each step that follows until the adapter is done or media arrives."""
    started = time.monotonic()
    end = started + settings.max_wait if deadline is None else min(deadline, started + settings.max_wait)
    step: Next = first
    origin = origin_of(first.request.url)
    polls = 0
    interval = settings.poll_interval
    while True:
        if step.poll:
            polls += 1
            if polls > settings.max_polls or time.monotonic() + interval > end:
                raise _job_timeout(provider, started, polls - 1, settings)
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, settings.max_poll_interval)
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise _job_timeout(provider, started, polls, settings)
        step_timeouts = Timeouts(min(timeouts.connect, remaining), min(timeouts.first_byte, remaining),
                                 timeouts.idle)
        request = step.request
        try:
            if request.follow_redirects or origin_of(request.url) != origin:
                resp = await transport.open_checked(request, provider, step_timeouts, origin)
            else:
                resp = await transport.open(request, provider, step_timeouts)
        except ProviderTimeout:
            if remaining < timeouts.first_byte:  # cut short by the job's own bound: say which
                raise _job_timeout(provider, started, polls, settings) from None
            raise
        if resp.status >= 400:
            raise await transport.error_from(resp)
        if step.raw:
            try:
                async with asyncio.timeout(max(remaining, 0.001)):
                    data = await resp.read(settings.max_result_bytes)
            except TimeoutError:
                await resp.close()
                raise _job_timeout(provider, started, polls, settings, "sending a file") from None
            result = step.parse(Media(data, resp.content_type or "application/octet-stream"))
            if isinstance(result, Done):
                return result
            step = result
            continue
        # a download's answer without a content type is media (octet-stream), not a document
        if is_media(resp.content_type or ("application/octet-stream" if request.follow_redirects else "")):
            length = resp.headers.get("content-length")
            if length and length.isdigit() and int(length) > settings.max_result_bytes:
                await resp.close()
                raise ProviderResponseError(
                    f"{provider}'s result has {length} bytes, more than jobs.max_result_bytes "
                    f"({settings.max_result_bytes})", provider=provider, status_code=resp.status,
                )
            return MediaStream(resp, settings.max_result_bytes)
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                raw = await resp.read(transport.max_answer_bytes)
        except TimeoutError:
            await resp.close()
            raise _job_timeout(provider, started, polls, settings, "answering") from None
        try:
            answer: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            raise ProviderResponseError(
                f"{provider} answered {resp.status} with a body that is neither JSON nor media",
                provider=provider, status_code=resp.status, body=raw[:300].decode(errors="replace"),
            ) from None
        result = step.parse(answer)
        if isinstance(result, Done):
            return result
        step = result


def _job_timeout(provider: str, started: float, polls: int, settings: JobSettings,
                 doing: str = "the job") -> ProviderTimeout:
    """A job past its bounds; the message names them, so the operator knows which to raise."""
    return ProviderTimeout(
        f"{provider} did not finish {doing} within {time.monotonic() - started:.1f}s ({polls} status polls; "
        f"bounds: jobs.max_wait={settings.max_wait:g}s, jobs.max_polls={settings.max_polls})",
        provider=provider,
    )


async def read_outcome(outcome: Outcome) -> Any:
    """The output value: JSON, or `Media` (a stream read whole)."""
    if isinstance(outcome, MediaStream):
        return Media(await outcome.read(), outcome.content_type)
    return outcome.value
