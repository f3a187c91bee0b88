"""`GET /v1/models` lists what chat can serve, and `GET /v1/models/{id}` answers for every name chat
takes: the catalog's models, the ids custom servers list, aliases and LiteLLM `model_list` names
(each with its target's providers); a `model_list` server is shown by name, never as host:port."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import assert_error, chat
from tests.mocks import MockProvider


def conf(vllm: MockProvider, hf: MockProvider, tgi: MockProvider) -> str:
    return yaml.safe_dump({
        "huggingface": {"token": "hf_test_token_123", "base_url": hf.url, "live_catalog": False},
        "providers": {"vllm": {"type": "openai-compatible", "base_url": f"{vllm.url}/v1"}},
        "models": [
            {"id": "acme/r1", "providers": [{"provider": "together", "provider_id": "acme/R1-Turbo",
                                             "pricing": {"input": 1.0, "output": 2.0}}]},
            {"id": "acme/embed", "task": "feature-extraction", "providers": [{"provider": "vllm"}]},
        ],
        "aliases": {"smart": "acme/r1", "pinned-r1": "acme/r1:together", "local": "my-org/finetune-7b",
                    "anything-local": "whatever/id:vllm", "embedder": "acme/embed",
                    "nowhere": "acme/r1:groq"},  # groq: no key, and HF's router is not asked for it here
        "model_list": [
            {"model_name": "my-r1", "litellm_params": {"model": "huggingface/together/acme/r1"}},
            {"model_name": "my-tgi", "litellm_params": {"model": "huggingface/tgi", "api_base": tgi.url}},
        ],
    }, sort_keys=False)


async def start(mocks: Mocks, router: RouterFactory) -> tuple[RunningRouter, MockProvider]:
    vllm, hf, tgi = await mocks.start("vllm"), await mocks.start("hf"), await mocks.start("tgi")
    vllm.models = ["my-org/finetune-7b", "acme/r1"]
    return await router.start(conf(vllm, hf, tgi)), tgi


def providers(card: dict[str, Any]) -> list[str]:
    return [p["provider"] for p in card["providers"]]


async def test_the_list_holds_what_chat_serves(mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await start(mocks, router)
    async with r.client() as c:
        data = {m["id"]: m for m in (await c.get("/v1/models")).json()["data"]}
        embeddings = {m["id"]: m for m in (await c.get("/v1/models?task=feature-extraction")).json()["data"]}
    assert providers(data["my-org/finetune-7b"]) == ["vllm"]  # only the custom server lists it
    assert providers(data["acme/r1"]) == ["together", "vllm"]  # the catalog's, then the server that lists it
    assert providers(data["smart"]) == ["together", "vllm"]  # aliases: their target's providers
    assert providers(data["pinned-r1"]) == ["together"]
    assert data["pinned-r1"]["providers"][0]["pricing"] == {"input": 1.0, "output": 2.0}
    assert providers(data["local"]) == ["vllm"] and providers(data["anything-local"]) == ["vllm"]
    assert providers(data["my-r1"]) == ["together"]  # model_list names, by provider name
    assert providers(data["my-tgi"]) == ["my-tgi"]
    assert "nowhere" not in data  # nothing can serve it
    assert not [p for m in data.values() for p in providers(m) if ":" in p]  # names, never host:port
    assert "embedder" not in data and providers(embeddings["embedder"]) == ["vllm"]
    assert data["smart"]["task"] == "conversational" and data["smart"]["object"] == "model"


async def test_every_name_chat_takes_has_a_card(mocks: Mocks, router: RouterFactory) -> None:
    r, _ = await start(mocks, router)
    async with r.client() as c:
        async def card(model: str) -> dict[str, Any]:
            resp = await c.get(f"/v1/models/{model}")
            assert resp.status_code == 200, (model, resp.text)
            body: dict[str, Any] = resp.json()
            return body

        assert providers(await card("my-org/finetune-7b")) == ["vllm"]
        assert providers(await card("smart")) == ["together", "vllm"]
        assert providers(await card("my-r1")) == ["together"]
        assert providers(await card("my-tgi")) == ["my-tgi"]
        assert providers(await card("acme/r1:vllm")) == ["vllm"]
        assert providers(await card("acme/r1:together")) == ["together"]
        pinned = await card("never/listed:vllm")  # chat sends any id pinned to a custom server
        assert pinned["id"] == "never/listed" and providers(pinned) == ["vllm"]
        assert (await card("nowhere"))["providers"] == []  # an alias answers, even with nothing behind it
        for missing in ("never/listed", "acme/r1:nosuch"):
            assert_error(await c.get(f"/v1/models/{missing}"), 404, "model_not_found")


async def test_a_model_list_server_is_named_in_answers_and_metrics(mocks: Mocks, router: RouterFactory) -> None:
    r, tgi = await start(mocks, router)
    resp = await chat(r, "my-tgi")
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "my-tgi"
    assert tgi.received[0].json["model"] == "tgi"
    async with r.client() as c:
        metrics = (await c.get("/metrics")).text
    assert 'provider="my-tgi"' in metrics
    assert tgi.url.removeprefix("http://") not in metrics
