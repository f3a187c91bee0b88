"""Which provider serves a model name: `:provider` pins, `:cheapest`, `:preferred`, `:fastest` (from
measured traffic), config aliases and LiteLLM `model_list` deployments, including Hugging Face's
router as an upstream (a mock stands in for router.huggingface.co)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, assert_error, chat, config, header, stream_chat
from tests.mocks import MockProvider, chat_completion, json_reply, sse_reply, stream_events

FAILING = json_reply({"error": {"message": "down"}}, status=500)


def served_by(resp) -> str:
    assert resp.status_code == 200, resp.text
    return resp.headers["x-inference-provider"]


# --- pins -----------------------------------------------------------------------------------------
async def test_pin_serves_from_that_provider_only(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    r = await router.start(config(a, b))
    assert served_by(await chat(r, f"{MODEL}:b")) == "b"
    assert b.received[0].json["model"] == "b-model"
    b.enqueue(FAILING)
    err = assert_error(await chat(r, f"{MODEL}:b"), 502)
    assert [p["provider"] for p in err["providers"]] == ["b"]
    assert a.hits == 0  # no failover away from a pin


# --- policies -------------------------------------------------------------------------------------
async def test_cheapest_orders_by_output_price(mocks: Mocks, router: RouterFactory) -> None:
    a, b, c = await mocks.start("a"), await mocks.start("b"), await mocks.start("c")
    r = await router.start(config(c, a, b, pricing={
        "a": {"input": 0.1, "output": 2.0},
        "b": {"input": 0.9, "output": 0.5},
    }))  # c is unpriced, and first in catalog order
    assert served_by(await chat(r, f"{MODEL}:cheapest")) == "b"
    for m in (a, b, c):
        m.enqueue(FAILING)
    err = assert_error(await chat(r, f"{MODEL}:cheapest"), 502)
    assert [p["provider"] for p in err["providers"]] == ["b", "a", "c"]


async def test_preferred_follows_routing_preferred(mocks: Mocks, router: RouterFactory) -> None:
    a, b, c = await mocks.start("a"), await mocks.start("b"), await mocks.start("c")
    r = await router.start(config(a, b, c, routing={"default_policy": "fastest", "preferred": ["c", "a"]}))
    assert served_by(await chat(r, f"{MODEL}:preferred")) == "c"
    c.enqueue(FAILING)
    assert served_by(await chat(r, f"{MODEL}:preferred")) == "a"  # then the next preferred, not b
    assert b.hits == 0


def slow_json(seconds: float):
    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(chat_completion())

    return reply


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "non-streamed"])
async def test_fastest_follows_measured_throughput(mocks: Mocks, router: RouterFactory, stream: bool) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    r = await router.start(config(a, b, routing={"default_policy": "fastest"}))
    # Nothing measured yet: catalog order, so a (slow from its first answer: an early fast sample of
    # a's, next to b's first on a cold connection, would make the outcome a matter of timing).
    a.enqueue(slow_json(0.2))
    assert served_by(await chat(r, f"{MODEL}:fastest")) == "a"
    # Some traffic: a turns out slow, b fast.
    for _ in range(2):
        if stream:
            a.enqueue(sse_reply(stream_events(["slow", "ly", "..."]), delay=0.05))
            resp, _ = await stream_chat(r, f"{MODEL}:a")
            assert resp.status_code == 200
            resp, _ = await stream_chat(r, f"{MODEL}:b")
            assert resp.status_code == 200
        else:
            a.enqueue(slow_json(0.2))
            served_by(await chat(r, f"{MODEL}:a"))
            served_by(await chat(r, f"{MODEL}:b"))
    assert served_by(await chat(r, f"{MODEL}:fastest")) == "b"
    assert served_by(await chat(r, MODEL)) == "b"  # the default policy here


# --- aliases and LiteLLM model_list ---------------------------------------------------------------
async def test_config_alias(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    r = await router.start(config(a, b, aliases={"smart": f"{MODEL}:b", "thrifty": f"{MODEL}:preferred"}))
    assert served_by(await chat(r, "smart")) == "b"
    assert b.received[-1].json["model"] == "b-model"
    assert served_by(await chat(r, "thrifty")) == "a"
    async with r.client() as c:
        ids = [m["id"] for m in (await c.get("/v1/models")).json()["data"]]
    assert {"smart", "thrifty", MODEL} <= set(ids)


def yaml_config(**sections: Any) -> str:
    return yaml.safe_dump(sections, sort_keys=False)


async def start_hf(mocks: Mocks, router: RouterFactory, **sections: Any) -> tuple[MockProvider, RunningRouter]:
    hf = await mocks.start("hf-router")
    models = [{"id": "acme/r1", "providers": [{"provider": "together", "provider_id": "acme/R1-Turbo"}]}]
    huggingface = {"base_url": hf.url, "live_catalog": False, **sections.pop("huggingface", {})}
    r = await router.start(yaml_config(huggingface=huggingface, models=models, **sections))
    return hf, r


async def test_hf_router_as_upstream_with_the_hf_token(mocks: Mocks, router: RouterFactory) -> None:
    hf, r = await start_hf(mocks, router, huggingface={"token": "hf_configured_token_1234"})
    assert served_by(await chat(r, "acme/r1")) == "together"
    sent = hf.received[0]
    assert sent.path == "/together/v1/chat/completions"
    assert header(sent, "authorization") == "Bearer hf_configured_token_1234"
    assert sent.json["model"] == "acme/R1-Turbo"


async def test_litellm_huggingface_provider_model_with_api_key(mocks: Mocks, router: RouterFactory) -> None:
    hf, r = await start_hf(mocks, router, model_list=[{"model_name": "my-r1", "litellm_params": {
        "model": "huggingface/together/acme/r1", "api_key": "hf_litellm_key_5678"}}])
    resp = await chat(r, "my-r1")
    assert served_by(resp) == "together"
    sent = hf.received[0]
    assert sent.path == "/together/v1/chat/completions"
    assert header(sent, "authorization") == "Bearer hf_litellm_key_5678"
    assert sent.json["model"] == "acme/R1-Turbo"
    # Streams take the same way.
    resp, frames = await stream_chat(r, "my-r1")
    assert resp.headers["x-inference-provider"] == "together"
    assert frames[-1] == "data: [DONE]"
    assert hf.received[1].path == "/together/v1/chat/completions"


async def test_litellm_huggingface_tgi_with_api_base(mocks: Mocks, router: RouterFactory) -> None:
    tgi = await mocks.start("tgi")
    r = await router.start(yaml_config(model_list=[{"model_name": "my-tgi", "litellm_params": {
        "model": "huggingface/tgi", "api_base": tgi.url, "api_key": "endpoint-key-0000"}}]))
    resp = await chat(r, "my-tgi")
    assert served_by(resp) == "my-tgi"  # named after the entry, not host:port
    sent = tgi.received[0]
    assert sent.path == "/v1/chat/completions"
    assert header(sent, "authorization") == "Bearer endpoint-key-0000"
    assert sent.json["model"] == "tgi"


async def test_litellm_openai_model_with_api_base(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    r = await router.start(yaml_config(model_list=[{"model_name": "local-qwen", "litellm_params": {
        "model": "openai/Qwen/Qwen2.5-7B-Instruct", "api_base": f"{vllm.url}/v1", "api_key": "sk-local-1234"}}]))
    assert served_by(await chat(r, "local-qwen")) == "local-qwen"
    sent = vllm.received[0]
    assert sent.path == "/v1/chat/completions"
    assert header(sent, "authorization") == "Bearer sk-local-1234"
    assert sent.json["model"] == "Qwen/Qwen2.5-7B-Instruct"


async def test_litellm_deployments_of_one_name_fail_over(mocks: Mocks, router: RouterFactory) -> None:
    one, two = await mocks.start("one"), await mocks.start("two")
    one.enqueue(FAILING)
    r = await router.start(yaml_config(model_list=[
        {"model_name": "pool", "litellm_params": {"model": "openai/m1", "api_base": f"{one.url}/v1"}},
        {"model_name": "pool", "litellm_params": {"model": "openai/m2", "api_base": f"{two.url}/v1"}},
    ]))
    assert served_by(await chat(r, "pool")) == "pool-2"  # the second server of the entry name
    assert (one.hits, two.received[0].json["model"]) == (1, "m2")
