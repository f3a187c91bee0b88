"""One request record per request, on every route, emitted once to the app's sinks when the request
ends: who asked, what was requested and served, attempts, timing, usage (the provider's, or counted
by hubroute) and its cost from the served mapping's pricing."""

from __future__ import annotations

import httpx2 as httpx
import orjson
import pytest

from hubroute.server.record import RequestRecord
from hubroute.usage import Usage
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import CHAT, HI, MODEL, chat, config, stream_chat, until
from tests.mocks import chunk, json_reply, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"
PRICES = {"a": {"input": 1.0, "output": 2.0}, "b": {"input": 3.0, "output": 6.0}}


def records(r: RunningRouter) -> list[RequestRecord]:
    """The records the router emits from now on (a sink of our own beside metrics and the log)."""
    got: list[RequestRecord] = []
    r.app.sinks.append(got.append)
    return got





async def test_a_whole_answer_is_recorded_with_usage_cost_and_failover(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": "down"}, status=503))
    r = await router.start(config(a, b, pricing=PRICES, server={"master_key": MASTER}))
    got = records(r)
    resp = await chat(r, f"{MODEL}:preferred", headers={"authorization": f"Bearer {MASTER}"})
    assert resp.status_code == 200
    [rec] = got
    assert (rec.surface, rec.status, rec.requested, rec.model, rec.task) == (
        "chat", 200, f"{MODEL}:preferred", MODEL, "conversational")
    assert (rec.provider, rec.provider_model, rec.attempts, rec.failovers) == ("b", "b-model", 2, 1)
    assert rec.principal.key_id == "master"
    assert rec.usage == Usage(input_tokens=7, output_tokens=5)
    assert rec.usage.source == "provider"
    assert rec.cost == pytest.approx((7 * 3.0 + 5 * 6.0) / 1e6)
    assert rec.ttfb is not None and rec.duration is not None and rec.duration >= rec.ttfb


async def test_x_api_key_authenticates_like_a_bearer_key(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}))
    got = records(r)
    ok = await chat(r, headers={"x-api-key": MASTER})
    bad = await chat(r, headers={"x-api-key": "sk-not-the-key-000"})
    assert ok.status_code == 200 and bad.status_code == 401
    assert [rec.principal.key_id for rec in got] == ["master", None]
    assert MASTER not in bad.text


async def test_a_stream_records_usage_the_client_did_not_ask_for(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply(stream_events(["one", "two", "three"])))
    r = await router.start(config(a, pricing=PRICES))
    got = records(r)
    resp, frames = await stream_chat(r)
    assert resp.status_code == 200 and frames[-1] == "data: [DONE]"
    assert not any('"usage"' in f for f in frames)  # asked for on the client's behalf, not passed on
    assert orjson.loads(a.received[0].body)["stream_options"] == {"include_usage": True}
    [rec] = got
    assert rec.usage == Usage(input_tokens=7, output_tokens=3)
    assert rec.usage.source == "provider"
    assert rec.cost == pytest.approx((7 * 1.0 + 3 * 2.0) / 1e6)
    assert rec.error is None and rec.status == 200


async def test_a_provider_without_usage_is_counted_by_hubroute(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply(stream_events(["one", "two"], usage=False)),
              json_reply({"id": "x", "object": "chat.completion", "model": "m", "choices": [
                  {"index": 0, "message": {"role": "assistant", "content": "x" * 40}, "finish_reason": "stop"}]}))
    r = await router.start(config(a, pricing=PRICES))
    got = records(r)
    await stream_chat(r, messages=[{"role": "user", "content": "y" * 80}])
    await chat(r, messages=[{"role": "user", "content": "y" * 80}])
    streamed, whole = got
    assert streamed.usage is not None and streamed.usage.source == "hubroute"
    assert (streamed.usage.input_tokens, streamed.usage.output_tokens) == (20, 3)  # 80 chars; 3 chunks relayed
    assert whole.usage is not None and whole.usage.source == "hubroute"
    assert (whole.usage.input_tokens, whole.usage.output_tokens) == (20, 10)  # 40 chars of answer
    assert whole.cost == pytest.approx((20 * 1.0 + 10 * 2.0) / 1e6)


async def test_an_explicit_zero_stays_zero(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    a.enqueue(sse_reply([b"data: " + chunk("cached", finish="stop", usage=zero), b"data: [DONE]"]))
    r = await router.start(config(a, pricing=PRICES))
    got = records(r)
    await stream_chat(r)
    [rec] = got
    assert rec.usage == Usage(input_tokens=0, output_tokens=0) and rec.usage.source == "provider"
    assert rec.cost == 0.0


async def test_a_client_gone_mid_stream_is_recorded_with_what_was_generated(mocks: Mocks,
                                                                            router: RouterFactory) -> None:
    a = await mocks.start("a")
    words = [f"w{i}" for i in range(200)]
    a.enqueue(sse_reply(stream_events(words), delay=0.02))
    r = await router.start(config(a, pricing=PRICES))
    got = records(r)
    async with httpx.AsyncClient(base_url=r.url, timeout=10) as c, c.stream(
            "POST", CHAT, json={"model": MODEL, "messages": HI, "stream": True}) as resp:
        seen = 0
        async for line in resp.aiter_lines():
            seen += line.startswith("data: ")
            if seen >= 5:
                break
    await until(lambda: len(got) == 1)
    [rec] = got
    assert rec.error == "client_disconnected"
    assert rec.usage is not None and rec.usage.source == "hubroute"
    assert 5 <= (rec.usage.output_tokens or 0) < 200
    assert rec.cost is not None and rec.cost > 0
    assert r.app.health.open_circuits() == []


async def test_a_provider_error_mid_stream_is_recorded(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.enqueue(sse_reply([b"data: " + chunk("a"), b'data: {"error": {"message": "overloaded", "code": 503}}']))
    r = await router.start(config(a))
    got = records(r)
    _, frames = await stream_chat(r)
    assert "error" in orjson.loads(frames[-1][6:]) and "data: [DONE]" not in frames
    [rec] = got
    assert rec.status == 200 and rec.error is not None and rec.provider == "a"
    assert rec.usage is not None and rec.usage.output_tokens == 1


async def test_every_candidate_failing_is_recorded_once(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": "down"}, status=503))
    b.enqueue(json_reply({"error": "down"}, status=500))
    r = await router.start(config(a, b))
    got = records(r)
    resp = await chat(r)
    assert resp.status_code == 502
    [rec] = got
    assert (rec.status, rec.attempts, rec.usage, rec.cost) == (502, 2, None, None)


async def test_embeddings_are_recorded_with_the_providers_usage_or_counted(mocks: Mocks,
                                                                           router: RouterFactory) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    vector = {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}
    together.enqueue(json_reply({"object": "list", "model": "m", "data": [vector],
                                 "usage": {"prompt_tokens": 4, "total_tokens": 4}}))
    hf.enqueue(json_reply([0.1, 0.2]))  # HF's shape: a vector, no usage
    r = await router.start(f"""
huggingface: {{token: hf_test_token_123, base_url: "{hf.url}", live_catalog: false}}
providers:
  together: {{api_key: together-key-123, base_url: "{together.url}"}}
models:
  - id: acme/embedder
    task: feature-extraction
    providers: [{{provider: together, provider_id: acme/Embed, pricing: {{input: 0.5}}}}]
  - id: acme/hf-embedder
    task: feature-extraction
    providers: [{{provider: hf-inference, pricing: {{input: 0.5}}}}]
""")
    got = records(r)
    async with r.client() as c:
        own = await c.post("/v1/embeddings", json={"model": "acme/embedder", "input": "hello"})
        hf_shaped = await c.post("/v1/embeddings", json={"model": "acme/hf-embedder", "input": "x" * 40})
    assert own.status_code == hf_shaped.status_code == 200, own.text + hf_shaped.text
    first, second = got
    assert (first.surface, first.task, first.provider) == ("embeddings", "feature-extraction", "together")
    assert first.usage == Usage(input_tokens=4) and first.cost == pytest.approx(4 * 0.5 / 1e6)
    assert second.usage is not None and second.usage.source == "hubroute" and second.usage.input_tokens == 10
    assert second.cost == pytest.approx(10 * 0.5 / 1e6)


FLUX = "black-forest-labs/FLUX.1-dev"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def test_task_routes_record_the_units_they_bill_by(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(*[json_reply(PNG, content_type="image/png") for _ in range(3)])
    r = await router.start(f"""
huggingface: {{token: hf_test_token_123, base_url: "{hf.url}", live_catalog: false}}
models:
  - id: {FLUX}
    task: text-to-image
    providers: [{{provider: hf-inference, pricing: {{image: 0.025}}}}]
""")
    got = records(r)
    async with r.client() as c:
        one = await c.post(f"/models/{FLUX}", json={"inputs": "a lighthouse"})
        two = await c.post("/v1/images/generations", json={"model": FLUX, "prompt": "a lighthouse", "n": 2})
    assert one.status_code == 200 and two.status_code == 200, two.text
    task, images = got
    assert (task.surface, task.task, task.provider, task.usage.images, task.cost) == (  # type: ignore[union-attr]
        "task", "text-to-image", "hf-inference", 1, pytest.approx(0.025))
    assert (images.surface, images.usage.images, images.usage.requests) == ("images", 2, 2)  # type: ignore[union-attr]
    assert images.cost == pytest.approx(0.05)


async def test_passthrough_reads_usage_from_answers_it_knows(mocks: Mocks, router: RouterFactory) -> None:
    together = await mocks.start("together")
    usage = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
    together.enqueue(
        json_reply({"id": "x", "object": "chat.completion", "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}], "usage": usage}),
        sse_reply([b"data: " + chunk("a", model="meta-llama/Llama-3.3-70B-Instruct-Turbo"),
                   b"data: " + chunk(finish="stop", usage=usage), b"data: [DONE]"]),
        json_reply({"data": [{"b64_json": "aGk="}]}),
    )
    r = await router.start(f"""
providers:
  together: {{api_key: together-key-123, base_url: "{together.url}"}}
models:
  - id: meta-llama/Llama-3.3-70B-Instruct
    providers: [{{provider: together, provider_id: meta-llama/Llama-3.3-70B-Instruct-Turbo,
                 pricing: {{input: 0.88, output: 0.88}}}}]
""")
    got = records(r)
    body = {"model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "messages": HI}
    async with r.client() as c:
        whole = await c.post("/together/v1/chat/completions", json=body)
        streamed = await c.post("/together/v1/chat/completions", json={**body, "stream": True})
        image = await c.post("/together/v1/images/generations", json={"model": "m", "prompt": "x"})
    assert whole.status_code == streamed.status_code == image.status_code == 200
    assert streamed.text.endswith("data: [DONE]\n\n")
    for rec in got[:2]:
        assert (rec.surface, rec.provider) == ("passthrough", "together")
        assert rec.model == "meta-llama/Llama-3.3-70B-Instruct"
        assert rec.usage == Usage(input_tokens=11, output_tokens=2)
        assert rec.cost == pytest.approx(13 * 0.88 / 1e6)
    assert got[2].usage is None and got[2].requested == "m"


async def test_a_failing_sink_costs_its_record_not_the_answer(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a))

    def broken(rec: RequestRecord) -> None:
        raise RuntimeError("sink down")

    r.app.sinks.insert(0, broken)
    got = records(r)
    resp = await chat(r)
    assert resp.status_code == 200 and len(got) == 1
