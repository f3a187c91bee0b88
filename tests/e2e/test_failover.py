"""Failover: what moves a request to the next provider, what does not, and what the client sees when
every provider fails. Each test runs the real router against mock providers on real sockets."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import assert_error, chat, config, content_of, frame_json, stream_chat
from tests.mocks import MockProvider, chunk, hang, json_reply, sse_reply, stream_events
from tests.ports import free_port

FAST = {"timeouts": {"connect": 0.5, "first_byte": 0.3, "idle": 0.5}}
OVERLOADED = json_reply({"error": {"message": "overloaded"}}, status=503)


# --- what moves a request on --------------------------------------------------------------------
async def test_connection_refused_fails_over(mocks: Mocks, router: RouterFactory) -> None:
    b = await mocks.start("b")
    r = await router.start(config(("a", f"http://127.0.0.1:{free_port()}"), b))
    resp = await chat(r)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "b"
    assert b.received[0].json["model"] == "b-model"


async def test_first_byte_timeout_fails_over(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(hang(5))
    r = await router.start(config(a, b, routing=FAST))
    started = time.monotonic()
    resp = await chat(r)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "b"
    assert a.hits == 1
    assert 0.25 < elapsed < 2, elapsed  # waited for first_byte (0.3 s), not for the hanging upstream


async def test_429_fails_over_and_retry_after_is_honoured(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "1"}))
    r = await router.start(config(a, b))
    first = await chat(r)
    assert first.status_code == 200 and first.headers["x-inference-provider"] == "b"
    # Before Retry-After has elapsed, the rate-limited provider is not contacted at all.
    for _ in range(3):
        resp = await chat(r)
        assert resp.headers["x-inference-provider"] == "b"
    assert a.hits == 1
    await asyncio.sleep(1.1)
    resp = await chat(r)
    assert resp.headers["x-inference-provider"] == "a"
    assert a.hits == 2


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_fails_over(mocks: Mocks, router: RouterFactory, status: int) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": "boom"}, status=status))
    r = await router.start(config(a, b))
    resp = await chat(r)
    assert resp.status_code == 200
    assert resp.headers["x-inference-provider"] == "b"
    assert (a.hits, b.hits) == (1, 1)


@pytest.mark.parametrize("reply", [
    json_reply(b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
    json_reply({"id": "x", "object": "chat.completion", "model": "m"}),
    json_reply({"choices": []}),
    json_reply(b""),
], ids=["html", "no-choices", "empty-choices", "empty-body"])
async def test_invalid_200_fails_over(mocks: Mocks, router: RouterFactory, reply) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(reply)
    r = await router.start(config(a, b))
    resp = await chat(r)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "b"
    assert resp.json()["choices"][0]["message"]["content"] == "Hello from the mock"


async def test_provider_400_is_passed_back_without_failover(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": {"message": "max_tokens is too large: 999999"}}, status=400))
    r = await router.start(config(a, b))
    resp = await chat(r, max_tokens=999999)
    err = assert_error(resp, 400)
    assert "max_tokens is too large" in err["message"]
    assert err["type"] == "invalid_request_error"
    assert err.get("provider") == "a"
    assert resp.headers["x-inference-provider"] == "a"  # who rejected it
    assert b.hits == 0


# --- limits ---------------------------------------------------------------------------------------
async def test_max_attempts_is_respected(mocks: Mocks, router: RouterFactory) -> None:
    a, b, c = await mocks.start("a"), await mocks.start("b"), await mocks.start("c")
    a.enqueue(OVERLOADED)
    b.enqueue(OVERLOADED)
    r = await router.start(config(a, b, c, routing={"max_attempts": 2}))
    resp = await chat(r)
    err = assert_error(resp, (502, 503))
    assert [p["provider"] for p in err["providers"]] == ["a", "b"]
    assert c.hits == 0


async def test_overall_deadline_is_respected(mocks: Mocks, router: RouterFactory) -> None:
    a, b, c = await mocks.start("a"), await mocks.start("b"), await mocks.start("c")
    for m in (a, b, c):
        m.enqueue(hang(5))
    r = await router.start(config(a, b, c, routing={"deadline": 0.5, "timeouts": {"first_byte": 0.35}}))
    started = time.monotonic()
    resp = await chat(r)
    elapsed = time.monotonic() - started
    assert_error(resp, 504, "provider_timeout")
    assert elapsed < 1.0, elapsed  # not 3 x first_byte
    assert c.hits == 0  # nothing left of the deadline for a third attempt


# --- when everything fails ------------------------------------------------------------------------
async def test_all_5xx_is_one_502_listing_each_provider(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": {"message": "a is on fire"}}, status=500))
    b.enqueue(json_reply(b"<html>bad gateway</html>", content_type="text/html"))
    r = await router.start(config(a, b))
    resp = await chat(r)
    err = assert_error(resp, 502)
    assert "x-inference-provider" not in resp.headers
    by_name = {p["provider"]: p for p in err["providers"]}
    assert set(by_name) == {"a", "b"}
    assert by_name["a"]["status"] == 500 and "a is on fire" in by_name["a"]["error"]
    assert by_name["b"]["status"] == 200
    assert "a is on fire" in err["message"]


async def test_all_rate_limited_is_503_with_retry_after(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": "rate"}, status=429, headers={"retry-after": "7"}))
    b.enqueue(json_reply({"error": "busy"}, status=503, headers={"retry-after": "3"}))
    r = await router.start(config(a, b))
    resp = await chat(r)
    err = assert_error(resp, 503)
    assert resp.headers["retry-after"] == "3"
    assert [p["status"] for p in err["providers"]] == [429, 503]


async def test_all_timed_out_is_504(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(hang(5))
    b.enqueue(hang(5))
    r = await router.start(config(a, b, routing=FAST))
    err = assert_error(await chat(r), 504, "provider_timeout")
    assert [p["provider"] for p in err["providers"]] == ["a", "b"]


async def test_all_unreachable_is_502(router: RouterFactory) -> None:
    r = await router.start(config(("a", f"http://127.0.0.1:{free_port()}"), ("b", f"http://127.0.0.1:{free_port()}")))
    err = assert_error(await chat(r), 502)
    assert [p["provider"] for p in err["providers"]] == ["a", "b"]
    assert all(p["status"] is None for p in err["providers"])


# --- streams --------------------------------------------------------------------------------------
@pytest.mark.parametrize("reply", [
    json_reply({"error": {"message": "internal"}}, status=500),
    sse_reply([b'data: {"error": {"message": "model overloaded", "code": 503}}']),
    sse_reply([b'event: error\ndata: {"message": "upstream exploded"}']),
    sse_reply([b"data:[DONE]"]),
    sse_reply([]),
    json_reply({"id": "not-a-stream", "choices": []}),
], ids=["500", "error-object-in-200", "event-error", "bare-done-no-space", "empty-stream", "json-not-sse"])
async def test_stream_fails_over_before_first_event(mocks: Mocks, router: RouterFactory, reply) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(reply)
    r = await router.start(config(a, b))
    resp, frames = await stream_chat(r)
    assert resp.status_code == 200
    assert resp.headers["x-inference-provider"] == "b"
    assert content_of(frames) == "Hello from the mock"
    assert frames[-1] == "data: [DONE]"
    assert "error" not in "".join(frames)
    assert (a.hits, b.hits) == (1, 1)


async def test_stream_first_event_timeout_fails_over(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(sse_reply(stream_events(["late"]), first_delay=3))  # headers at once, then silence
    r = await router.start(config(a, b, routing=FAST))
    resp, frames = await stream_chat(r)
    assert resp.headers["x-inference-provider"] == "b"
    assert content_of(frames) == "Hello from the mock"


async def test_stream_done_without_space_is_normalised(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply([b"data:" + chunk("x"), b"data:" + chunk("y"), b"data:[DONE]"]))
    r = await router.start(config(a))
    resp, frames = await stream_chat(r)
    assert resp.status_code == 200
    assert content_of(frames) == "xy"
    assert frames[-1] == "data: [DONE]"
    assert frames.count("data: [DONE]") == 1
    assert all(f.startswith("data: ") for f in frames)


@pytest.mark.parametrize("how", ["disconnect", "idle-timeout"])
async def test_stream_never_fails_over_after_first_byte(mocks: Mocks, router: RouterFactory, how: str) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    if how == "disconnect":
        a.enqueue(sse_reply(stream_events(["one", "two", "three"]), break_after=2))
    else:
        a.enqueue(sse_reply(stream_events(["one", "two", "three"]), delay=2))
    r = await router.start(config(a, b, routing=FAST))
    resp, frames = await stream_chat(r)
    assert resp.status_code == 200
    assert resp.headers["x-inference-provider"] == "a"
    assert content_of(frames[:-1]).startswith("one")
    last = frame_json(frames[-1])
    assert set(last) == {"error"} and last["error"]["message"] and last["error"]["type"]
    assert last["error"]["provider"] == "a"
    assert "[DONE]" not in "".join(frames)
    assert b.hits == 0


async def test_client_going_away_stops_the_upstream_stream(mocks: Mocks, router: RouterFactory) -> None:
    state: dict[str, bool] = {}

    async def endless(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for i in range(100):
                await resp.write(b"data: " + chunk(f"w{i} ") + b"\n\n")
                await asyncio.sleep(0.02)
        except BaseException:
            state["aborted"] = True
            raise
        state["finished"] = True
        return resp

    a = await mocks.start("a", default=endless)
    r = await router.start(config(a))
    async with r.client() as c, c.stream("POST", "/v1/chat/completions", json={
            "model": "acme/chat-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as resp:
        assert resp.headers["x-inference-provider"] == "a"
        await anext(resp.aiter_bytes())
    # the client hung up after its first chunk: the router must hang up on the provider too
    for _ in range(100):
        if state:
            break
        await asyncio.sleep(0.01)
    assert state == {"aborted": True}
    async with r.client() as c:
        assert (await c.get("/health")).json()["inflight"] == 0  # nothing left in flight
