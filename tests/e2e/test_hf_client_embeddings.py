"""huggingface_hub's feature_extraction with a provider (deepinfra, scaleway, together: OpenAI-shaped
embeddings routes) through hubroute's HF-router-compatible passthrough, and by server-side routing."""

from __future__ import annotations

import asyncio

import pytest
from huggingface_hub import InferenceClient, constants

from tests.conftest import Mocks, RouterFactory
from tests.mocks import json_reply

MASTER = "hf_hubroute_master_key_1"
MODEL = "org/embedder"
ROUTES = {"deepinfra": "/v1/openai/embeddings", "scaleway": "/v1/embeddings", "together": "/v1/embeddings"}
ANSWER = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}]}


def config(provider: str, url: str) -> str:
    return f"""
server: {{master_key: {MASTER}}}
huggingface: {{live_catalog: false}}
providers: {{{provider}: {{api_key: provider-key-123, base_url: "{url}"}}}}
models:
  - {{id: {MODEL}, task: feature-extraction, providers: [{{provider: {provider}, provider_id: prov/embedder}}]}}
"""


@pytest.mark.parametrize("provider", sorted(ROUTES))
async def test_feature_extraction_through_the_passthrough(provider: str, mocks: Mocks, router: RouterFactory,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.hf_api import InferenceProviderMapping
    from huggingface_hub.inference._providers import _common

    mock = await mocks.start(provider)
    mock.enqueue(json_reply(ANSWER))
    r = await router.start(config(provider, mock.url))
    monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", r.url + "/{provider}")
    mapping = {MODEL: InferenceProviderMapping(provider=provider, hf_model_id=MODEL, providerId="prov/embedder",
                                               task="feature-extraction", status="live")}
    monkeypatch.setitem(_common.HARDCODED_MODEL_INFERENCE_MAPPING, provider, mapping)

    def call() -> list[float]:
        client = InferenceClient(provider=provider, api_key=MASTER)  # type: ignore[arg-type]
        return list(client.feature_extraction("Hello", model=MODEL).ravel())

    assert await asyncio.to_thread(call) == [0.5, 0.25]
    sent = mock.received[0]
    assert sent.path == ROUTES[provider]
    assert sent.json["model"] == "prov/embedder" and sent.json["input"] == "Hello"
    assert sent.headers["Authorization"] == "Bearer provider-key-123"  # never the caller's key


@pytest.mark.parametrize("provider", sorted(ROUTES))
async def test_feature_extraction_by_server_side_routing(provider: str, mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start(provider)
    mock.enqueue(json_reply(ANSWER))
    r = await router.start(config(provider, mock.url))
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as c:
        resp = await c.post(f"/models/{MODEL}", json={"inputs": "Hello", "dimensions": 2})
    assert resp.status_code == 200, resp.text
    assert resp.json() == [[0.5, 0.25]] and resp.headers["x-inference-provider"] == provider
    assert mock.received[0].json == {"input": "Hello", "dimensions": 2, "model": "prov/embedder"}
