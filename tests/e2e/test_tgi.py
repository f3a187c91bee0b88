"""OpenAI's completions and HF's text-generation task on HF Inference, whose text-generation models
speak TGI's native generate API (`POST /models/{id}`, `{"inputs", "parameters", "stream"}`, a token
stream with no `[DONE]`): translated both ways by the hf-inference adapter, through a real router."""

from __future__ import annotations

from typing import Any

import openai
import orjson

from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, json_reply, sse_reply

MODEL = "openai-community/gpt2"
PATH = f"/hf-inference/models/{MODEL}"


def config(hf: MockProvider) -> str:
    return f"""
huggingface: {{token: hf_test_token_123, base_url: "{hf.url}", live_catalog: false}}
models:
  - {{id: {MODEL}, task: text-generation, providers: [{{provider: hf-inference}}]}}
"""


def tgi_events(words: list[str], *, finish: str = "length") -> list[bytes]:
    """TGI's stream as it is on the wire: a token per event, the last one special (the end of
    sequence) with the whole text and the details; no [DONE]."""
    frames = [orjson.dumps({"index": i + 1, "token": {"id": i, "text": w, "logprob": -0.5, "special": False},
                            "generated_text": None, "details": None}) for i, w in enumerate(words)]
    frames.append(orjson.dumps({
        "index": len(words) + 1, "token": {"id": 2, "text": "</s>", "logprob": -0.1, "special": True},
        "generated_text": "".join(words),
        "details": {"finish_reason": finish, "generated_tokens": len(words) + 1, "seed": None, "input_length": 4}}))
    return [b"data:" + f for f in frames]


def tgi_answer(text: str) -> Any:
    return json_reply([{"generated_text": text, "details": {
        "finish_reason": "eos_token", "generated_tokens": 3, "seed": 7, "prefill": [], "tokens": []}}])


def sse_objects(body: str) -> list[Any]:
    return [orjson.loads(line[6:]) for line in body.split("\n\n") if line.startswith("data: {")]


async def test_completions_stream_is_relayed_as_openai_chunks(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(sse_reply(tgi_events([" a", " platform", " for", " ML."]), delay=0.01))
    r = await router.start(config(hf))
    async with r.client() as c:
        resp = await c.post("/v1/completions", json={"model": MODEL, "prompt": "The Hub is", "max_tokens": 5,
                                                      "temperature": 0.7, "stop": "\n", "stream": True})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.text.endswith("data: [DONE]\n\n")
    chunks = sse_objects(resp.text)
    assert all(ch["object"] == "text_completion" for ch in chunks)
    assert "".join(ch["choices"][0]["text"] for ch in chunks) == " a platform for ML."
    assert [ch["choices"][0]["finish_reason"] for ch in chunks] == [None] * 4 + ["length"]
    sent = hf.received[0]
    assert sent.path == PATH and sent.headers["Authorization"] == "Bearer hf_test_token_123"
    assert sent.json == {"inputs": "The Hub is", "stream": True, "parameters": {
        "details": True, "do_sample": True, "max_new_tokens": 5, "return_full_text": False, "stop": ["\n"],
        "temperature": 0.7}}


async def test_completions_answer_is_an_openai_completion(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(tgi_answer(" 42."))
    r = await router.start(config(hf))
    async with r.client() as c:
        resp = await c.post("/v1/completions", json={"model": MODEL, "prompt": "The answer is", "temperature": 0})
    assert resp.status_code == 200, resp.text
    out = openai.types.Completion.model_validate(resp.json())
    assert out.object == "text_completion" and out.choices[0].text == " 42."
    assert out.choices[0].finish_reason == "stop"
    assert out.usage is not None and out.usage.completion_tokens == 3
    assert hf.received[0].json == {"inputs": "The answer is", "parameters": {
        "details": True, "do_sample": False, "return_full_text": False}}


async def test_text_generation_task_route_is_tgi_native(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    answer = [{"generated_text": "The answer is 42.", "details": {
        "finish_reason": "eos_token", "generated_tokens": 3, "seed": 3, "prefill": [], "tokens": []}}]
    hf.enqueue(json_reply(answer))
    r = await router.start(config(hf))
    parameters = {"max_new_tokens": 8, "seed": 3, "details": True, "do_sample": False,
                  "grammar": {"type": "regex", "value": "[0-9]+"}}
    async with r.client() as c:
        resp = await c.post(f"/models/{MODEL}", json={"inputs": "The answer is", "parameters": parameters})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "hf-inference"
    assert resp.json()[0]["generated_text"] == "The answer is 42."
    assert resp.json()[0]["details"]["finish_reason"] == "eos_token"
    assert hf.received[0].path == PATH
    assert hf.received[0].json == {"inputs": "The answer is", "parameters": parameters}


async def test_huggingface_hub_text_generation_through_the_router(mocks: Mocks, router: RouterFactory) -> None:
    # huggingface_hub pointed at the router's task route sends TGI's body: it reaches HF Inference as it is
    import asyncio

    from huggingface_hub import InferenceClient

    hf = await mocks.start("hf")
    hf.enqueue(json_reply([{"generated_text": " 42."}]))
    r = await router.start(config(hf))
    client = InferenceClient(model=f"{r.url}/models/{MODEL}", token="hf_x")
    out = await asyncio.to_thread(client.text_generation, "The answer is", max_new_tokens=4, return_full_text=False)
    assert out == " 42."
    assert hf.received[0].json == {"inputs": "The answer is",
                                   "parameters": {"max_new_tokens": 4, "return_full_text": False}}


async def test_stream_error_event_becomes_an_openai_error(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    error = {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096",
             "error_type": "validation"}
    hf.enqueue(sse_reply([b"data: " + orjson.dumps(error)]))
    r = await router.start(config(hf))
    async with r.client() as c:
        resp = await c.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 9999,
                                                      "stream": True})
    assert "max_new_tokens" in resp.text
    assert "text_completion" not in resp.text


async def test_openai_sdk_streams_completions(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(sse_reply(tgi_events([" one", " two"], finish="eos_token")))
    r = await router.start(config(hf))
    client = openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key="unused", max_retries=0, timeout=10)
    stream = await client.completions.create(model=MODEL, prompt="Count:", max_tokens=3, stream=True)
    texts, finishes = [], []
    async for chunk in stream:
        texts.append(chunk.choices[0].text)
        finishes.append(chunk.choices[0].finish_reason)
    await client.close()
    assert "".join(texts) == " one two" and finishes[-1] == "stop"
    assert hf.received[0].json["parameters"]["max_new_tokens"] == 3


async def test_hubroute_client_text_generation_on_hf_inference(mocks: Mocks, router: RouterFactory) -> None:
    """hubroute's own client, through the router and in direct mode: text_generation (over
    /v1/completions) reaches HF Inference's TGI, streamed and not."""
    from hubroute.client import AsyncInferenceClient
    from hubroute.config import Settings

    hf = await mocks.start("hf")
    r = await router.start(config(hf))
    for client in (AsyncInferenceClient(base_url=r.url, environ={}, model=MODEL),
                   AsyncInferenceClient(config=Settings.parse(config(hf), {}), environ={}, model=MODEL)):
        hf.enqueue(tgi_answer(" 42."), sse_reply(tgi_events([" one", " two"])))
        try:
            out = await client.text_generation("The answer is", max_new_tokens=3, details=True)
            tokens = [t async for t in await client.text_generation("Count:", stream=True)]
        finally:
            await client.close()
        assert out.generated_text == " 42." and out.details.finish_reason == "eos_token"
        assert out.details.generated_tokens == 3
        assert tokens == [" one", " two"]
        first, second = hf.received[-2:]
        assert first.path == second.path == PATH
        assert first.json["parameters"]["max_new_tokens"] == 3 and second.json["stream"] is True


async def test_streamed_token_counts_are_metered_and_sent_when_asked(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(sse_reply(tgi_events([" a", " b"])), sse_reply(tgi_events([" c"])))
    r = await router.start(config(hf))
    async with r.client() as c:
        plain = await c.post("/v1/completions", json={"model": MODEL, "prompt": "x", "stream": True})
        asked = await c.post("/v1/completions", json={"model": MODEL, "prompt": "x", "stream": True,
                                                      "stream_options": {"include_usage": True}})
        metrics = (await c.get("/metrics")).text
    assert all("usage" not in ch for ch in sse_objects(plain.text))
    assert sse_objects(asked.text)[-1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 2,
                                                    "total_tokens": 6}
    completion = [line for line in metrics.splitlines()
                  if line.startswith("hubroute_tokens_total") and 'kind="completion"' in line]
    assert completion and float(completion[0].rsplit(" ", 1)[1]) == 3 + 2  # both streams, from TGI's counts


async def test_direct_mode_streams_tgi_completions_as_the_router_does(mocks: Mocks, router: RouterFactory) -> None:
    """The client's direct mode rewrites TGI's events before it drops usage the caller did not ask for,
    as the router's relay does: the same chunks either way."""
    from hubroute.client._backend import COMPLETIONS_ROUTE
    from hubroute.client._direct import Direct
    from hubroute.config import Settings

    hf = await mocks.start("hf")
    hf.enqueue(sse_reply(tgi_events([" a", " b"])), sse_reply(tgi_events([" a", " b"])))
    r = await router.start(config(hf))
    async with r.client() as c:
        relayed = sse_objects((await c.post("/v1/completions", json={"model": MODEL, "prompt": "x",
                                                                     "stream": True})).text)
    direct = Direct(Settings.parse(config(hf), {}), environ={})
    try:
        chunks = await direct.openai_stream(COMPLETIONS_ROUTE, {"model": MODEL, "prompt": "x", "stream": True}, None)
        got = [chunk async for batch in chunks.batches for chunk in batch]
    finally:
        await direct.aclose()
    strip = [{k: v for k, v in ch.items() if k != "created"} for ch in relayed]
    assert [{k: v for k, v in ch.items() if k != "created"} for ch in got] == strip
    assert all("usage" not in ch for ch in got) and got[-1]["choices"][0]["finish_reason"] == "length"
