"""What clients choose (model names, paths) never grows the router's state or its metrics, and never
reaches a log line or a metric label unscrubbed (issue 11, item 6). A real router over real sockets,
mock providers in their wire format.

* /metrics labels name only the models the deployment has served; a request that failed before (an
  unknown model, a bad suffix, a name a server refused) is counted under `model="unknown"`;
* the per provider x model state (circuits, speed) stays bounded whatever names are tried;
* a key pasted as a model name or into a path is scrubbed from the access log and from the labels;
* a provider's event past `routing.max_event_bytes` ends its stream with one error event (or, before
  the first event, fails over).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from hubroute.routing import health as health_module
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import CHAT, HI, MODEL, chat, config, content_of, frame_json, stream_chat, until
from tests.mocks import chunk, json_reply

KEY = "sk-proj-Abc123Def456Ghi789Jkl0"  # an OpenAI-style key, pasted where a model name goes





async def many(r: RunningRouter, names: list[str], *, workers: int = 8) -> dict[int, int]:
    """Send a chat request for each name (over `workers` keep-alive connections); count the statuses."""
    statuses: dict[int, int] = {}
    queue = iter(names)

    async def worker() -> None:
        async with r.client() as c:
            for name in queue:
                resp = await c.post(CHAT, json={"model": name, "messages": HI})
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return statuses


async def metrics_text(r: RunningRouter) -> str:
    async with r.client() as c:
        resp = await c.get("/metrics")
    assert resp.status_code == 200
    return resp.text


def model_labels(text: str) -> set[str]:
    return {line.split('model="', 1)[1].split('"', 1)[0] for line in text.splitlines() if 'model="' in line}


@pytest.mark.timeout(180)  # (20,000 requests: a minute and more on a loaded CI machine)
async def test_twenty_thousand_unknown_names_leave_metrics_small(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a))
    assert (await chat(r)).status_code == 200
    names = [f"org/model-{i}" for i in range(19_000)] + [f"{MODEL}:bad-suffix-{i}" for i in range(1_000)]
    statuses = await many(r, names)
    assert set(statuses) <= {400, 404} and sum(statuses.values()) == 20_000
    text = await metrics_text(r)
    assert len(text) < 8_000, len(text)
    assert model_labels(text) == {MODEL, "unknown"}
    unknown = [line for line in text.splitlines() if line.startswith("hubroute_requests_total") and "unknown" in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in unknown) == 20_000
    assert a.hits == 1


def pinned(vllm_url: str) -> str:
    return yaml.safe_dump({"providers": {"vllm": {"type": "openai-compatible", "base_url": f"{vllm_url}/v1"}},
                           "routing": {"circuit_breaker": {"failures": 1000}}}, sort_keys=False)


async def test_names_a_server_refuses_stay_out_of_labels_and_state(mocks: Mocks, router: RouterFactory,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Any id pinned to an OpenAI-compatible server (`name:vllm`) is sent to it as given: each one a
    target tried and failed. Neither the labels nor the circuits and speed figures follow them."""
    monkeypatch.setattr(health_module, "MAX_PAIRS", 100, raising=False)
    vllm = await mocks.start("vllm")
    vllm.default = json_reply({"object": "error", "message": "The model does not exist.", "type": "NotFoundError",
                               "param": None, "code": 404}, status=404)
    r = await router.start(pinned(vllm.url))
    statuses = await many(r, [f"org/nope-{i}:vllm" for i in range(2_000)])
    assert statuses == {404: 2_000} or set(statuses) <= {404, 502}, statuses
    assert vllm.hits == 2_000
    text = await metrics_text(r)
    assert model_labels(text) == {"unknown"}, sorted(model_labels(text))[:5]
    assert len(text) < 8_000, len(text)
    health = r.app.health
    assert len(health._circuits) <= 100 and len(health._speed) <= 100


async def test_a_key_as_a_model_name_is_never_logged_or_labelled(mocks: Mocks, router: RouterFactory,
                                                                access_log: list[dict[str, Any]]) -> None:
    vllm = await mocks.start("vllm")  # the default reply: 200, served (so the model becomes a label)
    r = await router.start(pinned(vllm.url))
    resp = await chat(r, f"{KEY}:vllm")
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "vllm"
    assert (await chat(r, KEY)).status_code in (400, 404)
    async with r.client() as c:
        assert (await c.get(f"/v1/models/{KEY}", headers={"x-request-id": KEY})).status_code == 404
        await c.post(f"/v1/{KEY}/chat/completions", json={"model": KEY, "messages": HI})
    text = await metrics_text(r)
    await until(lambda: len(access_log) >= 5)  # the four requests and /metrics
    logged = orjson.dumps(access_log).decode()
    assert KEY not in logged and KEY[8:] not in logged
    assert KEY not in text and KEY[8:] not in text
    assert any("***" in line.get("requested", "") for line in access_log)  # scrubbed, not dropped


# --- a provider's stream: events bounded (issue 11, item 5) -----------------------------------------
def _huge(first: bool) -> Any:
    """An event stream whose event grows past any bound, never ended (after one normal event if
    `first`); the mock stops at 8 MB, or when the router hangs up."""

    async def reply(request: web.Request, mock: Any) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if first:
            await resp.write(b"data: " + chunk("Hi") + b"\n\n")
        await resp.write(b"data: ")
        try:
            for _ in range(128):
                await resp.write(b"x" * 65536)
        except (ConnectionError, OSError):
            pass
        return resp

    return reply


async def test_an_event_past_max_event_bytes_ends_the_stream_with_one_error_event(
        mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(_huge(first=True))
    r = await router.start(config(a, routing={"max_event_bytes": 65536}))
    resp, frames = await stream_chat(r)
    assert resp.status_code == 200
    assert content_of(frames[:1]) == "Hi"
    error = frame_json(frames[-1])["error"]
    assert "a sent an event larger than 65536 bytes" in error["message"]
    assert len(frames) == 2
    assert (await chat(r)).status_code == 200  # the next request is served as usual


async def test_an_event_past_max_event_bytes_before_the_first_fails_over(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(_huge(first=False))
    r = await router.start(config(a, b, routing={"max_event_bytes": 65536}))
    resp, frames = await stream_chat(r)
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "b"
    assert frames[-1] == "data: [DONE]" and content_of(frames) == "Hello from the mock"
