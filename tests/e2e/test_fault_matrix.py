"""Every way a provider can fail, for every protocol family, against the real router on a real socket.

Families: a chat completion (JSON), a streamed chat completion (SSE), a job (fal-ai's queue: submit,
status polls, result, download) and a media download (fal-ai's synchronous text-to-image: a JSON answer
naming a file, then the file). A fault hits the family's telling step: the answer of a chat, the stream,
a job's status poll, the download; connection faults (refused, connect timeout) hit the first request,
since a pooled connection is reused for the steps after it.

Each case: a normal exchange (the pool is warm), the fault, then two normal exchanges that must succeed
through the same router and provider, the second on the connection the first left in the pool. The
faulted request ends in a precise error: an OpenAI-shaped answer with the right status and the
provider's failure named (`providers[0].code`), or, once a stream has started, one error event; a media
answer already started is cut, never completed with wrong bytes. Nothing hangs past its configured
bound, no request stays in flight, and the router logs no traceback.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import orjson
import pytest
import yaml

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import CHAT, HI, MODEL, assert_error, assert_error_body, config, frame_json
from tests.e2e.test_tasks_jobs import MP4, PNG, fal_queue, file
from tests.faults import Blackhole, huge, not_http, reset
from tests.mocks import MockProvider, Reply, chunk, hang, json_reply, sse_reply

#: bounds shortened so that each fault is met in well under a second
ROUTING = {"timeouts": {"connect": 0.3, "first_byte": 0.5, "idle": 1}, "max_retry_after": 1,
           "max_answer_bytes": 65536, "max_event_bytes": 65536}
JOBS = {"poll_interval": 0.01, "max_poll_interval": 0.05, "max_wait": 0.6, "max_result_bytes": 65536}
TOO_BIG = 4 * 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    #: the router closed the connection before the body's end
    cut: bool

    @property
    def frames(self) -> list[str]:
        return [f for f in self.body.decode().split("\n\n") if f]


async def exchange(r: RunningRouter, method: str, path: str, **kw: Any) -> Answer:
    async with r.client(timeout=10) as c, c.stream(method, path, **kw) as resp:
        body, cut = b"", False
        try:
            async for data in resp.aiter_raw():
                body += data
        except httpx.RemoteProtocolError:
            cut = True
        return Answer(resp.status_code, resp.headers, body, cut)


@dataclass
class Family:
    name: str
    provider: str
    #: the faulted step's content type, a part of its answer, and an answer of the right type that is garbage
    content_type: str
    partial: bytes
    garbage: Reply
    #: the replies of a normal exchange, given the mock's URL, and those before the faulted step
    normal: Callable[[str], list[Reply]]
    before: Callable[[str], list[Reply]]
    #: the router's config, given the provider's URL
    config: Callable[[str], str]
    send: Callable[[RunningRouter], Any]
    #: whether a normal answer is right
    ok: Callable[[Answer], bool]
    #: whether the client has the answer's first bytes before the faulted step's body is read
    streams: bool = False


def chat_config(url: str) -> str:
    # requests wait for the first read of the provider's model list: bounded as tightly as the rest
    return config(("a", url), routing=ROUTING, discovery={"timeout": 0.3})


def fal_config(url: str, model: str, task: str, provider_id: str) -> str:
    return yaml.safe_dump({
        "huggingface": {"live_catalog": False},
        "providers": {"fal-ai": {"api_key": "fal-key-123", "base_url": url}},
        "models": [{"id": model, "task": task, "providers": [{"provider": "fal-ai", "provider_id": provider_id}]}],
        "routing": ROUTING, "jobs": JOBS,
    })


def is_completion(a: Answer) -> bool:
    return a.status == 200 and orjson.loads(a.body)["choices"][0]["message"]["content"] == "Hello from the mock"


def is_stream(a: Answer) -> bool:
    return a.status == 200 and a.frames[-1] == "data: [DONE]" and not any('"error"' in f for f in a.frames)


IN_PROGRESS = json_reply({"status": "IN_PROGRESS", "logs": []})
VIDEO = "acme/video-model"
IMAGE = "acme/image-model"

FAMILIES = [
    Family("chat", "a", "application/json", b'{"id":"chatcmpl-x","object":"chat.completion","choices":[{"ind',
           json_reply(b"<html><body>502 Bad Gateway</body></html>"),
           lambda u: [], lambda u: [], chat_config,
           lambda r: exchange(r, "POST", CHAT, json={"model": MODEL, "messages": HI}), is_completion),
    Family("stream", "a", "text/event-stream", b"data: " + chunk("Hel") + b"\n\ndata: " + chunk("lo") + b"\n\n",
           sse_reply([b"data: {'choices': [not json"]),
           lambda u: [], lambda u: [], chat_config,
           lambda r: exchange(r, "POST", CHAT, json={"model": MODEL, "messages": HI, "stream": True}), is_stream,
           streams=True),
    Family("job", "fal-ai", "application/json", b'{"status": "IN_PRO',
           json_reply(b"Service Unavailable", content_type="application/json"),
           lambda u: [*fal_queue("fal-ai/ltx-video", {"video": {"url": f"{u}/files/out"}}, polls=1),
                      file(MP4, "video/mp4")],
           lambda u: fal_queue("fal-ai/ltx-video", {})[:1],
           lambda u: fal_config(u, VIDEO, "text-to-video", "fal-ai/ltx-video"),
           lambda r: exchange(r, "POST", f"/models/{VIDEO}", json={"inputs": "a cat surfing"}),
           lambda a: a.status == 200 and a.body == MP4),
    Family("media", "fal-ai", "image/png", PNG[:20],
           json_reply(b"<html>an error page of the CDN</html>", content_type="text/html"),
           lambda u: [json_reply({"images": [{"url": f"{u}/files/out"}]}), file(PNG, "image/png")],
           lambda u: [json_reply({"images": [{"url": f"{u}/files/out"}]})],
           lambda u: fal_config(u, IMAGE, "text-to-image", "fal-ai/flux/dev"),
           lambda r: exchange(r, "POST", f"/models/{IMAGE}", json={"inputs": "a lighthouse"}),
           lambda a: a.status == 200 and a.body == PNG, streams=True),
]


def limited(retry_after: str | None) -> Reply:
    headers = {"retry-after": retry_after} if retry_after is not None else None
    return json_reply({"error": {"message": "slow down", "type": "rate_limit"}}, status=429, headers=headers)


def http_date(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


#: fault -> (the replies of the faulted step, given the family) for the faults a mock's reply makes
REPLIES: dict[str, Callable[[Family], list[Reply]]] = {
    "500": lambda f: [json_reply({"error": {"message": "internal error"}}, status=500)],
    "429": lambda f: [limited(None)],
    "429-seconds": lambda f: [limited("1")],
    "429-date": lambda f: [limited(http_date(1.5))],
    "429-huge": lambda f: [limited("99999999999")],
    "429-infinite": lambda f: [limited("1e309")],
    "429-nonsense": lambda f: [limited("soon")],
    "first-byte-timeout": lambda f: [hang(5)],
    "not-http": lambda f: [not_http()],
    "garbage": lambda f: [f.garbage],
    "reset-mid-answer": lambda f: [reset(f.content_type, f.partial, declared=None if f.streams else 4096)],
    "huge-answer": lambda f: [huge(f.content_type, TOO_BIG, prefix=f.partial)],
    "huge-answer-declared": lambda f: [huge(f.content_type, TOO_BIG, prefix=f.partial, declared=True)],
    "huge-event": lambda f: [huge(f.content_type, TOO_BIG, prefix=f.partial + b"data: {")],
    "never-ends": lambda f: [IN_PROGRESS] * 200,
}
FAULTS = [*REPLIES, "refused", "connect-timeout"]
#: a fault that means nothing for a family
NOT_APPLICABLE = {
    ("chat", "huge-event"), ("job", "huge-event"), ("media", "huge-event"),
    ("chat", "never-ends"), ("stream", "never-ends"), ("media", "never-ends"),
    ("stream", "huge-answer-declared"),  # a stream's length is never known: its bound is per event
    ("stream", "huge-answer"),  # an endless stream is a long generation, bounded by `routing.deadline`
}
#: pauses the provider: the next request waits for it (at most `routing.max_retry_after` = 1 s)
PAUSES = {"429-seconds", "429-date", "429-huge"}

#: what the client is told: (status, code of the answer, code of the provider's failure)
EXPECTED: dict[str, tuple[int, str, str]] = {
    "500": (502, "all_providers_failed", "provider_http_error"),
    "429": (503, "providers_unavailable", "provider_http_error"),
    "first-byte-timeout": (504, "provider_timeout", "provider_timeout"),
    "not-http": (502, "all_providers_failed", "provider_bad_response"),
    "garbage": (502, "all_providers_failed", "provider_bad_response"),
    "reset-mid-answer": (502, "all_providers_failed", "provider_connection_error"),
    "huge-answer": (502, "all_providers_failed", "provider_bad_response"),
    "huge-answer-declared": (502, "all_providers_failed", "provider_bad_response"),
    "refused": (502, "all_providers_failed", "provider_connection_error"),
    "connect-timeout": (504, "provider_timeout", "provider_timeout"),
    "never-ends": (504, "provider_timeout", "provider_timeout"),
}
for _kind in ("429-seconds", "429-date", "429-huge", "429-infinite", "429-nonsense"):
    EXPECTED[_kind] = EXPECTED["429"]
#: faults met once the client has the answer's first bytes: (family, fault) -> the stream's error code
AFTER_COMMIT = {
    ("stream", "reset-mid-answer"): "provider_connection_error",
    ("stream", "huge-event"): "provider_bad_response",
    ("media", "reset-mid-answer"): None,
    ("media", "huge-answer"): None,
}

CASES = [pytest.param(f, fault, id=f"{f.name}-{fault}") for f in FAMILIES for fault in FAULTS
         if (f.name, fault) not in NOT_APPLICABLE]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [rec.getMessage() for rec in caplog.records
            if rec.name.startswith(("hubroute", "uvicorn")) and (rec.exc_info or "Traceback" in rec.getMessage())]


async def health(r: RunningRouter) -> dict[str, Any]:
    async with r.client() as c:
        return dict((await c.get("/health")).json())


async def normal(r: RunningRouter, family: Family, mock: MockProvider) -> None:
    """A normal exchange succeeds; the mock has answered every step of it."""
    mock.queue.clear()
    mock.enqueue(*family.normal(mock.url))
    answer = await family.send(r)
    assert family.ok(answer), (answer.status, answer.body[:300])
    assert not mock.queue


def check_fault(family: Family, fault: str, answer: Answer, took: float) -> None:
    if (family.name, fault) in AFTER_COMMIT:
        assert answer.status == 200
        code = AFTER_COMMIT[family.name, fault]
        if code is None:  # bytes without frames: the connection is cut, the body never complete
            assert answer.cut, answer.body[:100]
            assert answer.body != PNG
        else:  # one error event ends the stream, no [DONE]
            frames = answer.frames
            assert frames and "data: [DONE]" not in frames and not answer.cut, frames
            assert [f for f in frames if '"error"' in f] == [frames[-1]], frames
            err = assert_error_body(frame_json(frames[-1]))
            assert err["code"] == code, err
        return
    status, code, cause = EXPECTED[fault]
    assert not answer.cut
    err = assert_error(httpx.Response(answer.status, headers=answer.headers, content=answer.body), status, code)
    [tried] = err["providers"]
    assert tried["provider"] == family.provider and tried["code"] == cause, tried
    if fault == "500" or fault.startswith("429"):
        assert tried["status"] == int(fault[:3])
    if fault in PAUSES:
        assert 1 <= int(answer.headers["retry-after"]) <= 2
    else:
        assert "retry-after" not in answer.headers
    assert took < 3, took  # every bound here is under a second


@pytest.mark.parametrize(("family", "fault"), CASES)
async def test_a_fault_ends_in_a_precise_error_and_the_next_requests_succeed(
        family: Family, fault: str, mocks: Mocks, router: RouterFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    blackhole = Blackhole() if fault == "connect-timeout" else None
    try:
        if blackhole is not None:  # never reached yet: nothing pooled, every connect times out
            mock = MockProvider(name=family.provider)
            r = await router.start(family.config(blackhole.url))
        else:
            mock = await mocks.start(family.provider)
            r = await router.start(family.config(mock.url))
            await normal(r, family, mock)
        port = int(mock.url.rsplit(":", 1)[1]) if mock.url else 0
        if fault == "refused":  # the provider goes away: its pooled connection closes, connecting is refused
            await mock.stop()
        elif fault in REPLIES:
            mock.enqueue(*family.before(mock.url), *REPLIES[fault](family))
        started = time.monotonic()
        answer = await family.send(r)
        check_fault(family, fault, answer, time.monotonic() - started)

        # the provider is back (or was never gone) and is served as before, on the same pool
        if fault == "refused":
            await mock.start(port=port)
        elif blackhole is not None:
            await blackhole.serve(mock)
            mocks.started.append(mock)
        if fault in PAUSES:
            deadline = time.monotonic() + 3
            while (await health(r))["paused"]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        await normal(r, family, mock)
        first = mock.received[-1].peer
        await normal(r, family, mock)
        assert mock.received[-1].peer == first, "the connection was not kept for the next request"
        assert (await health(r))["inflight"] == 0
        assert not tracebacks(caplog)
    finally:
        if blackhole is not None:
            blackhole.close()

