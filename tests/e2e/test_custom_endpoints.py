"""`type: openai-compatible` providers (vLLM, TGI, Ollama, ...) through a real router: they serve
what their own `GET /v1/models` lists (read at start, refreshed, bounded), what `models:` maps to
them, and any id pinned to them; an unknown model is a 404 that reaches no server. Chat,
completions and embeddings all go to them."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import pytest
import yaml

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import HI, assert_error, chat, header, stream_chat, until
from tests.mocks import MockProvider, hang, json_reply
from tests.providers.job_steps import PNG

QWEN = "Qwen/Qwen2.5-7B-Instruct"  # in the built-in catalog (together, ...), none of them reachable here
EMBEDDING = {"object": "list", "model": "m", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
             "usage": {"prompt_tokens": 2, "total_tokens": 2}}


def vllm_404(model: str) -> Any:
    """vLLM's answer for a model it does not serve."""
    return json_reply({"object": "error", "message": f"The model `{model}` does not exist.", "type": "NotFoundError",
                       "param": None, "code": 404}, status=404)


def custom(*servers: MockProvider, api_key: str | None = None, **sections: Any) -> str:
    providers = {s.name: {"type": "openai-compatible", "base_url": f"{s.url}/v1",
                          **({"api_key": api_key} if api_key else {})} for s in servers}
    return yaml.safe_dump({"providers": providers, **sections}, sort_keys=False)





async def sent_model(r: RunningRouter, server: MockProvider, model: str) -> str:
    resp = await chat(r, model)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == server.name
    return str(server.received[-1].json["model"])


# --- what a custom server serves ----------------------------------------------------------------
async def test_an_unknown_model_is_a_404_that_reaches_no_server(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = ["my-org/finetune-7b"]
    r = await router.start(custom(vllm))
    for model in ("nope/nope", "my-org/finetune-7c", "gpt-4o"):
        err = assert_error(await chat(r, model), 404, "model_not_found")
        assert model in err["message"] and f"'{model}:vllm'" in err["message"]  # how to send it anyway
        resp, _ = await stream_chat(r, model)
        assert_error(resp, 404, "model_not_found")
    assert vllm.hits == 0


async def test_listed_models_are_served_and_the_list_is_read_with_the_key(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = ["my-org/finetune-7b", "llama3.2:latest"]  # Ollama's ids carry a colon
    r = await router.start(custom(vllm, api_key="sk-local-key-1"))
    assert await sent_model(r, vllm, "my-org/finetune-7b") == "my-org/finetune-7b"
    assert await sent_model(r, vllm, "llama3.2:latest") == "llama3.2:latest"
    listed = vllm.listed[0]
    assert (listed.method, listed.path) == ("GET", "/v1/models")
    assert header(listed, "authorization") == "Bearer sk-local-key-1"


async def test_a_catalogued_model_a_server_lists_is_served_there(mocks: Mocks, router: RouterFactory) -> None:
    """The built-in catalog maps Qwen to providers this router cannot reach; the local vLLM lists it."""
    vllm = await mocks.start("vllm")
    r = await router.start(custom(vllm))
    assert_error(await chat(r, QWEN), 400, "model_not_supported")
    vllm.models = [QWEN]
    r2 = await router.start(custom(vllm))
    assert await sent_model(r2, vllm, QWEN) == QWEN


async def test_any_id_pinned_to_a_custom_server_goes_as_given(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = []
    r = await router.start(custom(vllm, models=[{"id": "acme/x", "providers": [
        {"provider": "vllm", "provider_id": "served-x"}]}]))
    assert await sent_model(r, vllm, "nope/nope:vllm") == "nope/nope"
    # a model the built-in catalog knows, pinned to your own server: the commonest local set-up
    assert await sent_model(r, vllm, f"{QWEN}:vllm") == QWEN
    assert await sent_model(r, vllm, "acme/x:vllm") == "served-x"  # the config's mapping, when there is one
    assert await sent_model(r, vllm, "acme/x") == "served-x"


async def test_every_server_answering_404_for_the_model_is_a_404_naming_them(mocks: Mocks,
                                                                             router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.models = b.models = ["shared/model"]
    a.enqueue(vllm_404("shared/model"))
    b.enqueue(vllm_404("shared/model"))
    r = await router.start(custom(a, b))
    err = assert_error(await chat(r, "shared/model"), 404, "model_not_found")
    assert "a, b" in err["message"] and [p["provider"] for p in err["providers"]] == ["a", "b"]
    a.enqueue(json_reply({"detail": "Not Found"}, status=404))  # a wrong URL is a failure, not a missing model
    assert_error(await chat(r, "shared/model:a"), 502)


# --- reading the lists: refreshed, bounded, failures not fatal --------------------------------------
async def test_the_list_is_refreshed_in_the_background(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = ["a/one"]
    r = await router.start(custom(vllm, discovery={"refresh": 0.1}))
    assert await sent_model(r, vllm, "a/one") == "a/one"
    vllm.models = ["b/two"]
    reads = len(vllm.listed)
    await until(lambda: len(vllm.listed) >= reads + 2)
    assert await sent_model(r, vllm, "b/two") == "b/two"
    assert_error(await chat(r, "a/one"), 404, "model_not_found")


async def test_a_failing_list_is_logged_once_and_is_not_fatal(mocks: Mocks, router: RouterFactory,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    vllm = await mocks.start("vllm")
    vllm.models_reply = json_reply({"error": "boom"}, status=500)
    caplog.set_level(logging.DEBUG, logger="hubroute.discovery")
    r = await router.start(custom(vllm, discovery={"refresh": 0.05}, models=[{"id": "acme/x", "providers": [
        {"provider": "vllm"}]}]))
    assert await sent_model(r, vllm, "acme/x") == "acme/x"  # what the config maps still goes
    assert await sent_model(r, vllm, "any/thing:vllm") == "any/thing"  # and pins
    assert_error(await chat(r, "any/thing"), 404, "model_not_found")
    await until(lambda: len(vllm.listed) >= 4)
    warnings = [rec for rec in caplog.records if rec.name == "hubroute.discovery" and rec.levelno >= logging.WARNING]
    assert len(warnings) == 1, [rec.getMessage() for rec in warnings]
    assert "vllm" in warnings[0].getMessage() and "HTTP 500" in warnings[0].getMessage()
    vllm.models_reply, vllm.models = None, ["any/thing"]  # it recovers: said once, and its list is used
    await until(lambda: any("again" in rec.getMessage() for rec in caplog.records))
    assert await sent_model(r, vllm, "any/thing") == "any/thing"


async def test_a_hanging_list_holds_the_first_request_no_longer_than_its_timeout(mocks: Mocks,
                                                                                 router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models_reply = hang(30)
    r = await router.start(custom(vllm, discovery={"timeout": 0.5}))
    started = time.monotonic()
    assert await sent_model(r, vllm, "any/thing:vllm") == "any/thing"
    assert time.monotonic() - started < 3
    assert_error(await chat(r, "any/thing"), 404, "model_not_found")


async def test_the_ids_kept_are_bounded(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = [f"m/{i}" for i in range(5)]
    r = await router.start(custom(vllm, discovery={"max_models": 2}))
    assert await sent_model(r, vllm, "m/1") == "m/1"
    assert_error(await chat(r, "m/2"), 404, "model_not_found")


# --- completions and embeddings ---------------------------------------------------------------------
async def test_completions_and_embeddings_go_to_a_custom_server(mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = ["my/chat", "BAAI/bge-small-en-v1.5"]
    vllm.enqueue(json_reply({"id": "c", "object": "text_completion", "model": "my/chat",
                             "choices": [{"index": 0, "text": " there", "finish_reason": "stop"}]}),
                 json_reply(EMBEDDING), json_reply(EMBEDDING), json_reply(EMBEDDING))
    r = await router.start(custom(vllm, models=[{"id": "acme/embed", "task": "feature-extraction", "providers": [
        {"provider": "vllm", "provider_id": "served-embed"}]}]))
    async with r.client() as c:
        done = await c.post("/v1/completions", json={"model": "my/chat", "prompt": "hi"})
        assert done.status_code == 200, done.text
        assert done.json()["choices"][0]["text"] == " there"
        listed = await c.post("/v1/embeddings", json={"model": "BAAI/bge-small-en-v1.5", "input": "hi"})
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"][0]["embedding"] == [0.5, -0.25]
        # the case: a `task: feature-extraction` entry of the config
        mapped = await c.post("/v1/embeddings", json={"model": "acme/embed", "input": ["a", "b"]})
        assert mapped.status_code == 200, mapped.text
        assert mapped.headers["x-inference-provider"] == "vllm"
        # and Hugging Face's task API over the same route
        task = await c.post("/models/acme/embed", json={"inputs": "hi"})
        assert task.status_code == 200, task.text
        assert orjson.loads(task.content) == [[0.5, -0.25]]
    paths = [(m.path, m.json["model"]) for m in vllm.received]
    assert paths == [("/v1/completions", "my/chat"), ("/v1/embeddings", "BAAI/bge-small-en-v1.5"),
                     ("/v1/embeddings", "served-embed"), ("/v1/embeddings", "served-embed")]
    assert vllm.received[2].json["input"] == ["a", "b"]


async def test_a_task_a_provider_has_no_route_for_is_said_plainly(mocks: Mocks, router: RouterFactory) -> None:
    """Not "serves it for 'feature-extraction', not 'feature-extraction'"."""
    groq = await mocks.start("groq")
    r = await router.start(yaml.safe_dump({
        "providers": {"groq": {"api_key": "gsk_test_key_123", "base_url": groq.url}},
        "models": [{"id": "acme/embed", "task": "feature-extraction", "providers": [{"provider": "groq"}]}]}))
    async with r.client() as c:
        resp = await c.post("/v1/embeddings", json={"model": "acme/embed", "input": "hi"})
    err = assert_error(resp, 400, "model_not_supported")
    assert "groq: does not support task 'feature-extraction'" in err["message"]
    assert groq.hits == 0


async def test_direct_mode_client_reads_the_lists_too(mocks: Mocks, tmp_path: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's direct mode builds the same engine: no router, the same custom-server rules."""
    from hubroute import AsyncInferenceClient
    from hubroute.errors import ModelNotFound

    vllm = await mocks.start("vllm")
    vllm.models = ["my-org/finetune-7b"]
    path = tmp_path / "hubroute.yaml"
    path.write_text(custom(vllm))
    monkeypatch.setenv("HUBROUTE_CONFIG", str(path))
    client = AsyncInferenceClient(provider="auto")
    try:
        out = await client.chat_completion(HI, model="my-org/finetune-7b")
        assert out.choices[0].message.content == "Hello from the mock"
        with pytest.raises(ModelNotFound):
            await client.chat_completion(HI, model="nope/nope")
    finally:
        await client.close()
    assert len(vllm.listed) == 1 and vllm.hits == 1


# --- the Hub URL of the deployment reaches the providers ---------------------------------------------
async def test_a_lora_adapter_is_sent_with_the_configured_hub_url(mocks: Mocks, router: RouterFactory) -> None:
    """A LoRA mapping found on the Hub (live look-up) goes to fal-ai with its weights' URL on
    `huggingface.hub_url`, not on huggingface.co."""
    hub, fal = await mocks.start("hub"), await mocks.start("fal-ai")
    hub.enqueue(json_reply({"id": "acme/pixel-lora", "inferenceProviderMapping": {"fal-ai": {
        "providerId": "fal-ai/flux-lora", "task": "text-to-image", "status": "live", "adapter": "lora",
        "adapterWeightsPath": "pixel.safetensors"}}}))
    fal.enqueue(json_reply({"images": [{"url": f"{fal.url}/files/out.png", "content_type": "image/png"}]}),
                json_reply(PNG, content_type="image/png"))
    r = await router.start(yaml.safe_dump({
        "huggingface": {"token": "hf_test_token_123", "hub_url": hub.url, "base_url": "http://127.0.0.1:9"},
        "providers": {"fal-ai": {"api_key": "fal-key-123", "base_url": fal.url}}}))
    async with r.client() as c:
        resp = await c.post("/models/acme/pixel-lora", json={"inputs": "a corgi"})
    assert resp.status_code == 200, resp.text
    assert resp.content == PNG
    assert hub.received[0].path == "/api/models/acme/pixel-lora"
    sent = fal.received[0]
    assert sent.path == "/fal-ai/flux-lora"
    assert sent.json["loras"] == [{"path": f"{hub.url}/acme/pixel-lora/resolve/main/pixel.safetensors", "scale": 1}]
