"""Hugging Face's task API through the router: POST /models/{org}/{model}[/pipeline/{task}]."""

from __future__ import annotations

import asyncio

from huggingface_hub import InferenceClient

from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, json_reply
from tests.providers.tapes import tapes

SST2 = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
TAPE_URL = f"https://router.huggingface.co/hf-inference/models/{SST2}"


def config(hf: MockProvider, models: dict[str, str] | None = None) -> str:
    """hf-inference through a mock HF router, serving `models` (id -> task)."""
    models = models or {SST2: "text-classification", "sentence-transformers/all-MiniLM-L6-v2": "sentence-similarity"}
    entries = "".join(
        f"  - {{id: {m}, task: {t}, providers: [{{provider: hf-inference}}]}}\n" for m, t in models.items()
    )
    return f"""
huggingface: {{token: hf_test_token_123, base_url: "{hf.url}", live_catalog: false}}
models:
{entries}"""


def recorded(url: str) -> bytes:
    return tapes(url)[0].response_body.encode()


async def test_text_classification_reaches_hf_inference(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply(recorded(TAPE_URL)))
    r = await router.start(config(hf))
    async with r.client() as c:
        resp = await c.post(f"/models/{SST2}", json={"inputs": "I like you. I love you.", "options": {}})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "hf-inference"
    assert resp.json()[0][0]["label"] == "POSITIVE"
    sent = hf.received[0]
    assert sent.path == f"/hf-inference/models/{SST2}"
    assert sent.json == {"inputs": "I like you. I love you."}
    assert sent.headers["Authorization"] == "Bearer hf_test_token_123"


async def test_pipeline_route_and_bad_input(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply([0.9, 0.1]))
    r = await router.start(config(hf))
    model = "sentence-transformers/all-MiniLM-L6-v2"
    body = {"inputs": {"source_sentence": "a cat", "sentences": ["a dog", "a car"]}}
    async with r.client() as c:
        ok = await c.post(f"/models/{model}/pipeline/sentence-similarity", json=body)
        assert ok.status_code == 200, ok.text
        assert ok.json() == [0.9, 0.1]
        assert hf.received[0].path == f"/hf-inference/models/{model}/pipeline/sentence-similarity"
        bad = await c.post(f"/models/{SST2}", json={"inputs": "x", "parameters": {"top_k": "two"}})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "parameters.top_k"
        unknown_task = await c.post(f"/models/{SST2}?task=teleportation", json={"inputs": "x"})
        assert unknown_task.status_code == 400 and "teleportation" in unknown_task.json()["error"]["message"]
        unknown_model = await c.post("/models/nobody/nothing", json={"inputs": "x"})
        assert unknown_model.status_code == 404
    assert hf.hits == 1  # bad requests never reached the provider


async def test_malformed_provider_answer_is_a_502(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply({"unexpected": True}))
    r = await router.start(config(hf))
    async with r.client() as c:
        resp = await c.post(f"/models/{SST2}", json={"inputs": "x"})
    assert resp.status_code == 502
    assert resp.json()["error"]["providers"][0]["provider"] == "hf-inference"


async def test_huggingface_hub_client_against_the_task_route(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply(recorded(TAPE_URL)))
    r = await router.start(config(hf))

    def call() -> list:
        client = InferenceClient(model=f"{r.url}/models/{SST2}", api_key="unused")
        return client.text_classification("I like you. I love you.")

    out = await asyncio.to_thread(call)
    assert out[0].label == "POSITIVE" and out[0].score > 0.99


VIT = "google/vit-base-patch16-224"
VIT_URL = f"https://router.huggingface.co/hf-inference/models/{VIT}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def image_config(hf: MockProvider) -> str:
    return config(hf, {VIT: "image-classification"})


async def test_image_input_as_raw_body_data_uri_and_refused_private_url(mocks: Mocks, router: RouterFactory) -> None:
    import base64

    hf = await mocks.start("hf")
    hf.default = json_reply(recorded(VIT_URL))
    r = await router.start(image_config(hf))
    async with r.client() as c:
        raw = await c.post(f"/models/{VIT}", content=PNG, headers={"content-type": "image/png"})
        uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
        with_params = await c.post(f"/models/{VIT}", json={"inputs": uri, "parameters": {"top_k": 2}})
        private = await c.post(f"/models/{VIT}", json={"inputs": f"{hf.url}/cat.png"})
        text = await c.post(f"/models/{VIT}", json={"inputs": "a photo of a cat"})
    assert raw.status_code == 200, raw.text
    assert raw.json()[0]["label"].startswith("cheetah")
    assert hf.received[0].body == PNG and hf.received[0].headers["Content-Type"] == "image/png"
    assert with_params.status_code == 200, with_params.text
    assert hf.received[1].json == {"inputs": base64.b64encode(PNG).decode(), "parameters": {"top_k": 2}}
    assert private.status_code == 400 and private.json()["error"]["param"] == "inputs"  # 127.0.0.1: refused
    assert text.status_code == 400 and text.json()["error"]["param"] == "inputs"
    assert hf.hits == 2


async def test_huggingface_hub_image_classification(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply(recorded(VIT_URL)))
    r = await router.start(image_config(hf))

    def call() -> list:
        return InferenceClient(model=f"{r.url}/models/{VIT}", api_key="unused").image_classification(PNG)

    out = await asyncio.to_thread(call)
    assert out[0].label.startswith("cheetah")
    assert hf.received[0].body == PNG
