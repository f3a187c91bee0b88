"""POST /v1/embeddings and the feature-extraction task, on OpenAI-shaped and HF-shaped providers."""

from __future__ import annotations

from openai import AsyncOpenAI

from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, json_reply

BGE = "BAAI/bge-base-en-v1.5"


def config(together: MockProvider, hf: MockProvider, first: str) -> str:
    order = ["together", "hf-inference"] if first == "together" else ["hf-inference", "together"]
    return f"""
huggingface: {{token: hf_upstream_token_9, base_url: "{hf.url}", live_catalog: false}}
providers:
  together: {{api_key: together-key-123, base_url: "{together.url}"}}
models:
  - id: {BGE}
    task: feature-extraction
    providers:
      - {{provider: together, provider_id: BAAI/bge-base-en-v1.5-together}}
      - {{provider: hf-inference}}
routing: {{default_policy: preferred, preferred: {order}}}
"""


def openai_answer(n: int) -> dict:
    return {"object": "list", "model": "x", "usage": {"prompt_tokens": 3, "total_tokens": 3},
            "data": [{"object": "embedding", "index": i, "embedding": [0.5, -0.25]} for i in range(n)]}


async def test_openai_shaped_provider_gets_the_body_as_it_came(mocks: Mocks, router: RouterFactory) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    together.enqueue(json_reply(openai_answer(2)))
    r = await router.start(config(together, hf, "together"))
    async with r.client() as c:
        resp = await c.post("/v1/embeddings", json={"model": BGE, "input": ["a", "b"]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "together"
    assert [d["embedding"] for d in resp.json()["data"]] == [[0.5, -0.25], [0.5, -0.25]]
    assert together.received[0].path == "/v1/embeddings"
    assert together.received[0].json == {"model": "BAAI/bge-base-en-v1.5-together", "input": ["a", "b"]}


async def test_hf_inference_answers_are_converted_and_the_sdk_decodes_them(mocks: Mocks, router: RouterFactory) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    together.default = json_reply({"error": {"message": "down"}}, status=503)
    hf.default = json_reply([[0.5, -0.25, 1.0], [0.0, 2.0, -1.5]])
    r = await router.start(config(together, hf, "together"))
    client = AsyncOpenAI(base_url=r.url + "/v1", api_key="unused", max_retries=0)
    out = await client.embeddings.create(model=BGE, input=["a", "b"])  # the SDK asks for base64
    assert [d.embedding for d in out.data] == [[0.5, -0.25, 1.0], [0.0, 2.0, -1.5]]
    sent = hf.received[0]
    assert sent.path == f"/hf-inference/models/{BGE}/pipeline/feature-extraction"
    assert sent.json == {"inputs": ["a", "b"]}
    hf.enqueue(json_reply([0.5, -0.25, 1.0]))  # one text: one vector
    async with r.client() as c:
        single = await c.post("/v1/embeddings", json={"model": BGE, "input": "a", "encoding_format": "float"})
        hf.enqueue(json_reply([[[0.1, 0.2], [0.3, 0.4]]]))  # a vector per token: not an embedding model
        per_token = await c.post("/v1/embeddings", json={"model": BGE, "input": ["a"]})
        bad = await c.post("/v1/embeddings", json={"model": BGE, "input": []})
    assert single.status_code == 200 and single.json()["data"][0]["embedding"] == [0.5, -0.25, 1.0]
    assert per_token.status_code == 502 and "pooled" in per_token.json()["error"]["message"]
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"


async def test_task_route_converts_openai_answers_to_vectors(mocks: Mocks, router: RouterFactory) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    together.enqueue(json_reply(openai_answer(2)))
    r = await router.start(config(together, hf, "together"))
    async with r.client() as c:
        resp = await c.post(f"/models/{BGE}/pipeline/feature-extraction", json={"inputs": ["a", "b"]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == [[0.5, -0.25], [0.5, -0.25]]
    assert together.received[0].json == {"model": "BAAI/bge-base-en-v1.5-together", "input": ["a", "b"]}
