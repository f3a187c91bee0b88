"""`/{provider}/{route}`: huggingface_hub's provider-native routes, with the credential swapped."""

from __future__ import annotations

import asyncio

import pytest
from huggingface_hub import InferenceClient, constants

from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, json_reply

MASTER = "hf_hubroute_master_key_1"  # an hf_-style key: huggingface_hub then uses the router URL


def config(together: MockProvider, hf: MockProvider) -> str:
    return f"""
server: {{master_key: {MASTER}}}
huggingface: {{token: hf_upstream_token_9, base_url: "{hf.url}", live_catalog: false}}
providers:
  together: {{api_key: together-key-123, base_url: "{together.url}"}}
"""


async def test_provider_route_swaps_credentials_and_passes_bodies(mocks: Mocks, router: RouterFactory) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    together.enqueue(json_reply({"data": [{"b64_json": "aGk="}]}, headers={"x-request-id": "tg-1"}))
    hf.enqueue(json_reply([[{"label": "POSITIVE", "score": 0.9}]]))
    r = await router.start(config(together, hf))
    auth = {"authorization": f"Bearer {MASTER}"}
    async with r.client(headers=auth) as c:
        img = await c.post("/together/v1/images/generations?x=1", json={"model": "m", "prompt": "a cat"})
        cls = await c.post("/hf-inference/models/org/model", json={"inputs": "I like you"})
        nokey = await c.post("/together/v1/images/generations", json={}, headers={"authorization": "Bearer nope"})
        via_hf = await c.post("/groq/openai/v1/chat/completions", json={"model": "x"})  # no groq key: HF
        nocred = await c.post("/sambanova/v1/chat/completions", json={})  # not routed by HF, no key
        traversal = await c.post("/together/v1/../../admin", json={})
    assert img.status_code == 200 and img.json() == {"data": [{"b64_json": "aGk="}]}
    assert img.headers["x-inference-provider"] == "together"
    sent = together.received[0]
    assert (sent.path, sent.query) == ("/v1/images/generations", "x=1")
    assert sent.headers["Authorization"] == "Bearer together-key-123"  # never the caller's key
    assert sent.json == {"model": "m", "prompt": "a cat"}
    assert cls.status_code == 200 and hf.received[0].path == "/hf-inference/models/org/model"
    assert hf.received[0].headers["Authorization"] == "Bearer hf_upstream_token_9"
    assert nokey.status_code == 401 and together.hits == 1
    assert via_hf.status_code == 200 and hf.received[-1].path == "/groq/openai/v1/chat/completions"
    assert nocred.status_code == 400 and "sambanova" in nocred.json()["error"]["message"]
    assert traversal.status_code in (400, 404)


async def test_provider_errors_keep_their_status(mocks: Mocks, router: RouterFactory) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    together.enqueue(json_reply({"error": {"message": "model not found"}}, status=404))
    r = await router.start(config(together, hf))
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as c:
        resp = await c.post("/together/v1/chat/completions", json={"model": "x"})
    assert resp.status_code == 404 and resp.json() == {"error": {"message": "model not found"}}


@pytest.fixture
def proxy_template(monkeypatch: pytest.MonkeyPatch):
    """Point huggingface_hub's router URL at hubroute, and answer its Hub mapping look-up locally
    (there is no network here)."""
    from huggingface_hub.hf_api import InferenceProviderMapping
    from huggingface_hub.inference._providers import _common

    def point_at(url: str, together_id: str) -> None:
        monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", url + "/{provider}")
        mapping = dict(_common.HARDCODED_MODEL_INFERENCE_MAPPING.get("together", {}))
        mapping[together_id] = InferenceProviderMapping(
            provider="together", hf_model_id=together_id, providerId=together_id, task="conversational",
            status="live")
        monkeypatch.setitem(_common.HARDCODED_MODEL_INFERENCE_MAPPING, "together", mapping)
    return point_at


async def test_huggingface_hub_with_provider_goes_through_hubroute(
        mocks: Mocks, router: RouterFactory, proxy_template) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    r = await router.start(config(together, hf))
    proxy_template(r.url, "meta-llama/Llama-3.3-70B-Instruct")

    def call() -> str:
        client = InferenceClient(provider="together", api_key=MASTER)
        out = client.chat_completion([{"role": "user", "content": "hi"}], model="meta-llama/Llama-3.3-70B-Instruct")
        return out.choices[0].message.content

    assert await asyncio.to_thread(call) == "Hello from the mock"
    assert together.received[0].path == "/v1/chat/completions"
    assert together.received[0].headers["Authorization"] == "Bearer together-key-123"



async def test_streams_pass_through_as_they_come(mocks: Mocks, router: RouterFactory) -> None:
    from tests.mocks import sse_reply, stream_events

    together, hf = await mocks.start("together"), await mocks.start("hf")
    together.enqueue(sse_reply(stream_events(["one", "two"]), delay=0.3))
    r = await router.start(config(together, hf))
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as c, \
            c.stream("POST", "/together/v1/chat/completions", json={"model": "x", "stream": True}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        pieces = resp.aiter_bytes()
        first = await asyncio.wait_for(anext(pieces), 0.25)  # long before the stream ends (~1.5 s)
        rest = b"".join([p async for p in pieces])
    assert b'"one"' in first and rest.endswith(b"data: [DONE]\n\n")
