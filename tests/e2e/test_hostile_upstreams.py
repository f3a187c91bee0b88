"""Providers that misbehave on purpose, and a router that must hold up: nonsense `Retry-After`
values, broken stream events, an adapter failing mid-stream, a shutdown with streams in flight. The
real router on a real socket, mock providers in their wire format."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any

import pytest
import yaml

from hubroute.client import AsyncInferenceClient
from hubroute.config import Settings
from hubroute.errors import ProviderResponseError
from hubroute.routing.session import Frames
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import (
    CHAT,
    HI,
    MODEL,
    assert_error,
    assert_error_body,
    chat,
    config,
    content_of,
    frame_json,
    stream_chat,
)
from tests.mocks import MockProvider, chunk, hang, json_reply, sse_reply, stream_events

MASTER = "sk-master-key-for-tests"
RATE_LIMITED = {"error": {"message": "slow down", "type": "rate_limit"}}


def limited(retry_after: str):
    return json_reply(RATE_LIMITED, status=429, headers={"retry-after": retry_after})


async def health(r: RunningRouter, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with r.client() as c:
        resp = await c.get("/health", headers=headers)
    assert resp.status_code == 200
    return resp.json()


# --- Retry-After ---------------------------------------------------------------------------------
async def test_an_infinite_retry_after_is_ignored(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited("1e309"))
    r = await router.start(config(a))
    err = assert_error(await chat(r), 503, "providers_unavailable")
    assert err["providers"][0]["status"] == 429
    resp = await chat(r)  # not paused, not broken: the next request is served
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "a" and a.hits == 2
    assert (await health(r))["paused"] == []


async def test_a_huge_retry_after_is_capped_and_shown(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(limited("99999999999"))
    r = await router.start(config(a, b))
    assert (await chat(r)).headers["x-inference-provider"] == "b"  # failover
    [pause] = (await health(r))["paused"]
    assert pause["provider"] == "a" and pause["model"] == MODEL
    assert 290 < pause["seconds_left"] <= 300  # routing.max_retry_after's default
    # a alone: paused, it is not contacted, and the client is told the capped wait
    only_a = f"{MODEL}:a"
    err = assert_error(resp := await chat(r, model=only_a), 503, "providers_unavailable")
    assert err["providers"][0]["error"].startswith("circuit open")
    assert 290 < int(resp.headers["retry-after"]) <= 300
    assert a.hits == 1


async def test_the_cap_is_configurable_and_applies_to_the_clients_retry_after(mocks: Mocks,
                                                                               router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited("99999999999"))
    r = await router.start(config(a, routing={"max_retry_after": 1}))
    resp = await chat(r)
    assert_error(resp, 503, "providers_unavailable")
    assert resp.headers["retry-after"] == "1"
    [pause] = (await health(r))["paused"]
    assert 0 < pause["seconds_left"] <= 1
    await asyncio.sleep(1.05)
    assert (await chat(r)).status_code == 200 and a.hits == 2


async def test_an_http_date_retry_after_is_honoured(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited(email.utils.formatdate(time.time() + 120, usegmt=True)))
    r = await router.start(config(a))
    resp = await chat(r)
    assert_error(resp, 503, "providers_unavailable")
    assert 115 <= int(resp.headers["retry-after"]) <= 120
    [pause] = (await health(r))["paused"]
    assert 115 < pause["seconds_left"] <= 120
    assert_error(await chat(r), 503)
    assert a.hits == 1


@pytest.mark.parametrize("value", ["-5", "soon", "nan", "1e3"])
async def test_a_nonsense_retry_after_pauses_nothing(mocks: Mocks, router: RouterFactory, value: str) -> None:
    a = await mocks.start("a")
    a.enqueue(limited(value))
    r = await router.start(config(a))
    resp = await chat(r)
    assert_error(resp, 503)
    assert "retry-after" not in resp.headers
    assert (await health(r))["paused"] == []
    assert (await chat(r)).status_code == 200


# --- /health ---------------------------------------------------------------------------------------
async def test_health_without_a_key_only_says_the_router_is_up(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(limited("60"))
    r = await router.start(config(a, server={"master_key": MASTER}))
    assert_error(await chat(r, headers={"authorization": f"Bearer {MASTER}"}), 503)
    for headers in (None, {"authorization": "Bearer wrong-key-123"}, {"authorization": "Basic x"}):
        async with r.client() as c:
            resp = await c.get("/health", headers=headers)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}, headers
    full = await health(r, {"authorization": f"Bearer {MASTER}"})
    assert full["status"] == "ok" and full["version"] and full["inflight"] == 0
    assert [(p["provider"], p["model"]) for p in full["paused"]] == [("a", MODEL)]
    assert full["open_circuits"] == []
    assert (await health(r, {"x-api-key": MASTER}))["paused"]


# --- broken streams ------------------------------------------------------------------------------
BROKEN_USAGE = b'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,'


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The router's log records (ours and uvicorn's) that carry a traceback (the mock providers' own
    complaints about a connection the router closed are theirs)."""
    return [rec.getMessage() for rec in caplog.records
            if rec.name.startswith(("hubroute", "uvicorn")) and (rec.exc_info or "Traceback" in rec.getMessage())]


def assert_one_error_event(frames: list[str], code: str | None = None) -> dict[str, Any]:
    """The stream's last frame is one OpenAI-shaped error event: no [DONE], no other error before."""
    assert frames and "data: [DONE]" not in frames, frames
    errors = [f for f in frames if '"error"' in f]
    assert errors == [frames[-1]], frames
    err = assert_error_body(frame_json(frames[-1]))
    if code is not None:
        assert err["code"] == code, err
    return err


@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["one-read", "event-by-event"])
async def test_a_usage_event_that_is_not_json_ends_the_stream_with_an_error_event(
        mocks: Mocks, router: RouterFactory, delay: float) -> None:
    a = await mocks.start("a")
    frames = stream_events(["Hello", " world"], usage=False, done=b"")
    a.enqueue(sse_reply([*frames, BROKEN_USAGE, b"data: [DONE]"], delay=delay))
    r = await router.start(config(a))
    resp, out = await stream_chat(r, stream_options={"include_usage": True})
    assert resp.status_code == 200
    assert content_of(out[:-1]) == "Hello world"
    err = assert_one_error_event(out, "provider_bad_response")
    assert err["provider"] == "a"
    assert (await chat(r)).status_code == 200  # the router is fine, the pool too


@pytest.mark.parametrize("usage", [b'"usage":{"prompt_tokens":"seven","completion_tokens":[]}',
                                   b'"usage":{"prompt_tokens":1e999}', b'"usage":7'])
async def test_a_usage_object_of_the_wrong_shape_never_kills_the_stream(mocks: Mocks, router: RouterFactory,
                                                                        usage: bytes) -> None:
    a = await mocks.start("a")
    odd = b'data: {"id":"c","object":"chat.completion.chunk","choices":[],' + usage + b"}"
    a.enqueue(sse_reply([*stream_events(["Hi"], usage=False, done=b""), odd, b"data: [DONE]"]))
    r = await router.start(config(a))
    resp, out = await stream_chat(r, stream_options={"include_usage": True})
    assert resp.status_code == 200
    assert content_of([f for f in out if '"error"' not in f]) == "Hi"
    assert out[-1] == "data: [DONE]" or assert_one_error_event(out)
    assert (await chat(r)).status_code == 200


ZAI_MODEL = "zai-org/GLM-4.6"


def zai_config(mock: MockProvider) -> str:
    return yaml.safe_dump({
        "huggingface": {"live_catalog": False},
        "providers": {"zai-org": {"api_key": "zai-key-123", "base_url": mock.url}},
        "models": [{"id": ZAI_MODEL, "providers": [{"provider": "zai-org", "provider_id": "glm-4.6"}]}],
    })


async def test_an_adapter_failing_mid_stream_ends_it_with_an_error_event(
        mocks: Mocks, router: RouterFactory, caplog: pytest.LogCaptureFixture) -> None:
    zai = await mocks.start("zai-org")
    # zai-org's adapter renames each choice's reasoning_content: a `choices` that is a number breaks it
    zai.enqueue(sse_reply([b"data: " + chunk("Hi"), b'data: {"id":"c","choices":5}', b"data: [DONE]"], delay=0.05))
    r = await router.start(zai_config(zai))
    caplog.set_level(logging.INFO)
    resp, out = await stream_chat(r, model=ZAI_MODEL)
    assert resp.status_code == 200
    assert content_of(out[:1]) == "Hi"
    assert_one_error_event(out)
    assert not tracebacks(caplog)
    assert (await chat(r, model=ZAI_MODEL)).status_code == 200


async def test_any_failure_of_ours_mid_stream_ends_it_with_an_internal_error_event(
        mocks: Mocks, router: RouterFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply(stream_events(["Hello", " boom", " after"]), delay=0.05))
    r = await router.start(config(a))
    frames = Frames.frames

    def failing(self: Frames, batch: Any) -> bytes:
        if batch.raw is not None and b"boom" in batch.raw:
            raise RuntimeError("a bug of ours")
        return frames(self, batch)

    monkeypatch.setattr(Frames, "frames", failing)
    caplog.set_level(logging.INFO)
    resp, out = await stream_chat(r)
    assert resp.status_code == 200 and content_of(out[:1]) == "Hello"
    err = assert_one_error_event(out, "internal_error")
    assert err["type"] == "server_error" and resp.headers["x-request-id"] in err["message"]
    assert not tracebacks(caplog)
    [line] = [rec for rec in caplog.records if "a bug of ours" in rec.getMessage()]
    assert line.exc_info is None
    monkeypatch.setattr(Frames, "frames", frames)
    assert (await chat(r)).status_code == 200
    async with r.client() as c:
        assert (await c.get("/health")).json()["inflight"] == 0


async def test_shutdown_ends_a_long_stream_with_one_error_event(
        mocks: Mocks, router: RouterFactory, caplog: pytest.LogCaptureFixture) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply(stream_events([f" w{i}" for i in range(200)]), delay=0.1))  # 20 s
    r = await router.start(config(a))
    r.server.config.timeout_graceful_shutdown = 1  # server.shutdown_timeout, shortened
    caplog.set_level(logging.INFO)
    async with r.client() as c, c.stream("POST", CHAT, json={"model": MODEL, "messages": HI, "stream": True}) as resp:
        assert resp.status_code == 200
        chunks = resp.aiter_bytes()
        received = await anext(chunks)
        started = time.monotonic()
        r.server.should_exit = True
        async for data in chunks:
            received += data
        waited = time.monotonic() - started
    frames = [f for f in received.decode().split("\n\n") if f]
    assert content_of(frames[:-1]).startswith(" w0")
    err = assert_one_error_event(frames, "server_shutting_down")
    assert err["type"] == "server_error"
    assert 0.9 < waited < 10, waited  # at the graceful shutdown's timeout, not at the stream's end (20 s)
    await asyncio.wait_for(r.task, 10)  # the server stopped
    assert not tracebacks(caplog)


# --- the client's direct mode --------------------------------------------------------------------------
@pytest.mark.parametrize("broken", [b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"x"', BROKEN_USAGE])
async def test_direct_mode_raises_a_clear_error_for_an_event_that_is_not_json(mocks: Mocks, broken: bytes) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply([*stream_events(["Hi"], usage=False, done=b""), broken, b"data: [DONE]"], delay=0.05))
    client = AsyncInferenceClient(provider="auto", environ={}, config=Settings.parse(config(a), {}))
    try:
        stream = await client.chat_completion(HI, model=MODEL, stream=True)
        first = await anext(stream)
        assert first.choices[0].delta.content == "Hi"
        with pytest.raises(ProviderResponseError, match="not valid JSON") as caught:
            async for _ in stream:
                pass
        assert caught.value.provider == "a"
        assert (await client.chat_completion(HI, model=MODEL)).choices[0].message.content
    finally:
        await client.close()


async def test_shutdown_answers_a_request_still_waiting_with_a_503(mocks: Mocks, router: RouterFactory,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    a = await mocks.start("a", default=hang(20))
    r = await router.start(config(a))
    r.server.config.timeout_graceful_shutdown = 1
    caplog.set_level(logging.INFO)
    waiting = asyncio.create_task(chat(r))
    while not a.hits:
        await asyncio.sleep(0.01)
    r.server.should_exit = True
    assert_error(await asyncio.wait_for(waiting, 10), 503, "server_shutting_down")
    await asyncio.wait_for(r.task, 10)
    assert not tracebacks(caplog)
