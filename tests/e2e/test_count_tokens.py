"""`POST /v1/messages/count_tokens` on a real router: counted with the model's tokenizer when its
tokenizer.json is in the Hub cache the router's environment names (a real tokenizer, built here),
else estimated, and `x-hubroute-token-count` says which; never an error for a model it cannot count
for. No provider is asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from hubroute.tokens import IMAGE_TOKENS, MESSAGE_TOKENS
from hubroute.usage import estimate_tokens
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, config
from tests.hub_cache import put, tokens_of, word_tokenizer
from tests.mocks import MockProvider

MASTER = "sk-hubroute-master-key-1"
COUNT = "/v1/messages/count_tokens"
HEADERS = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
WEATHER = {"name": "weather", "description": "the weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
#: the tool as the model reads it: its chat completion definition, as JSON
WEATHER_JSON = orjson.dumps({"type": "function", "function": {
    "name": "weather", "parameters": WEATHER["input_schema"], "description": "the weather in a city"}}).decode()


async def started(mocks: Mocks, router: RouterFactory, cache: Path) -> tuple[RunningRouter, MockProvider]:
    a = await mocks.start("a")
    conf = config(a, server={"master_key": MASTER}, aliases={"claude-haiku-4-5": f"{MODEL}:cheapest"})
    return await router.start(conf, environ={"HF_HUB_CACHE": str(cache)}), a


async def count(r: RunningRouter, **body: Any) -> tuple[int, str]:
    async with r.client() as c:
        resp = await c.post(COUNT, headers=HEADERS, json=body)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"input_tokens"}
    return resp.json()["input_tokens"], resp.headers["x-hubroute-token-count"]


async def test_counted_by_the_models_tokenizer_with_anthropics_sdk(
        mocks: Mocks, router: RouterFactory, clients: list[anthropic.AsyncAnthropic], tmp_path: Path) -> None:
    tok = word_tokenizer()
    put(tmp_path, MODEL, tok)
    r, a = await started(mocks, router, tmp_path)
    client = anthropic.AsyncAnthropic(base_url=r.url, api_key=MASTER, max_retries=0)
    clients.append(client)
    system, question = "Be brief and careful.", "What is the weather in Paris, and in Rome?"
    counted = await client.messages.with_raw_response.count_tokens(
        model=MODEL, system=system, tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": question}])
    assert counted.headers["x-hubroute-token-count"] == "tokenizer"
    assert (await counted.parse()).input_tokens == tokens_of(tok, system, question, WEATHER_JSON) + 2 * MESSAGE_TOKENS
    plain = await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "the cat sat"}])
    assert plain.input_tokens == 3 + MESSAGE_TOKENS  # three words, one token each; no [BOS] (the template's)
    assert a.hits == 0  # counted here, no provider asked


async def test_a_conversation_with_tool_use_images_and_aliased_names(
        mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    tok = word_tokenizer()
    put(tmp_path, MODEL, tok)
    r, _ = await started(mocks, router, tmp_path)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "the weather in paris?"}, image]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "not read", "signature": "s"},
                                          {"type": "tool_use", "id": "t1", "name": "weather",
                                           "input": {"city": "paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                                     {"type": "text", "text": "be brief"}]},
    ]
    # read: the first turn (a text and an image), the call's name and arguments, the tool's result and
    # the text after it (4 chat messages: user, assistant, tool, user)
    expected = tokens_of(tok, "the weather in paris?", "weather", '{"city":"paris"}', "sunny", "be brief") \
        + 4 * MESSAGE_TOKENS + IMAGE_TOKENS
    for name in (MODEL, f"{MODEL}:a", f"{MODEL}:cheapest", "claude-haiku-4-5"):
        assert await count(r, model=name, messages=messages) == (expected, "tokenizer"), name


async def test_a_model_without_a_local_tokenizer_is_estimated(
        mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    put(tmp_path, "acme/another-model", word_tokenizer())  # another model's tokenizer is not used
    r, _ = await started(mocks, router, tmp_path)
    text = "the cat sat on the mat " * 10
    expected = estimate_tokens("Be brief.") + estimate_tokens(text) + 2 * MESSAGE_TOKENS
    assert await count(r, model=MODEL, system="Be brief.", messages=[{"role": "user", "content": text}]) == \
        (expected, "estimate")
    # nor is a model the router does not serve, or a name it cannot parse, an error
    for name in ("nobody/no-such-model", "acme/chat-model:nosuchprovider", "not a hub id"):
        assert await count(r, model=name, messages=[{"role": "user", "content": text}]) == \
            (estimate_tokens(text) + MESSAGE_TOKENS, "estimate")


@pytest.mark.parametrize("content", ["{ this is not a tokenizer", '{"version": "1.0", "model": {"type": "Nope"}}'])
async def test_a_broken_tokenizer_file_is_estimated_not_an_error(
        mocks: Mocks, router: RouterFactory, tmp_path: Path, content: str) -> None:
    put(tmp_path, MODEL, content)
    r, _ = await started(mocks, router, tmp_path)
    for _ in range(2):  # (the second time from what the first found)
        assert await count(r, model=MODEL, messages=[{"role": "user", "content": "the cat sat"}]) == \
            (estimate_tokens("the cat sat") + MESSAGE_TOKENS, "estimate")


async def test_a_request_that_is_not_a_messages_request_is_still_refused(
        mocks: Mocks, router: RouterFactory, tmp_path: Path) -> None:
    r, _ = await started(mocks, router, tmp_path)
    async with r.client() as c:
        resp = await c.post(COUNT, headers=HEADERS, json={"model": MODEL, "messages": []})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
