"""The clients people already use work against the router unchanged: the `openai` SDK (sync and async)
and `huggingface_hub`'s InferenceClient / AsyncInferenceClient, with only `base_url` pointed at us.

The provider behind the router is the built-in `together` adapter with its base_url on a mock, so
what the provider receives is Together's wire format (e.g. its flat JSON-schema shape)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import orjson
import pytest
from huggingface_hub import AsyncInferenceClient, InferenceClient
from huggingface_hub.errors import HfHubHTTPError, TextGenerationError

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import HI, MODEL, config
from tests.mocks import MockProvider, chat_completion, json_reply, sse_reply, stream_events

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
IMAGE = [{"role": "user", "content": [
    {"type": "text", "text": "What is in this image?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
]}]


@pytest.fixture
async def gateway(mocks: Mocks, router: RouterFactory) -> tuple[RunningRouter, MockProvider]:
    upstream = await mocks.start("together")
    r = await router.start(config(
        providers={"together": {"api_key": "tg-test-key-0000", "base_url": upstream.url}},
        models=[{"id": MODEL, "providers": [{"provider": "together", "provider_id": "acme/Chat-Turbo"}]}],
    ))
    return r, upstream


def openai_client(r: RunningRouter, key: str = "unused", *, sync: bool = False) -> Any:
    cls = openai.OpenAI if sync else openai.AsyncOpenAI
    return cls(base_url=f"{r.url}/v1", api_key=key, max_retries=0, timeout=10)


async def call(sync: bool, fn: Any, *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kw) if sync else await fn(*args, **kw)


def tool_answer() -> Any:
    body = chat_completion()
    body["choices"][0].update(message={"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                              finish_reason="tool_calls")
    return json_reply(body)


# --- openai ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_openai_chat(gateway, sync: bool) -> None:
    r, upstream = gateway
    client = openai_client(r, sync=sync)
    raw = await call(sync, client.chat.completions.with_raw_response.create, model=MODEL, messages=HI,
                     temperature=0.1)
    assert raw.headers["x-inference-provider"] == "together"
    out = raw.parse()
    assert out.choices[0].message.content == "Hello from the mock"
    assert out.usage.completion_tokens == 5
    assert upstream.received[0].path == "/v1/chat/completions"
    assert upstream.received[0].json["model"] == "acme/Chat-Turbo"


async def test_openai_stream_async(gateway) -> None:
    r, _ = gateway
    stream = await openai_client(r).chat.completions.create(
        model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the mock"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


async def test_openai_stream_sync(gateway) -> None:
    r, _ = gateway

    def run() -> str:
        stream = openai_client(r, sync=True).chat.completions.create(model=MODEL, messages=HI, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert await asyncio.to_thread(run) == "Hello from the mock"


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_openai_tools(gateway, sync: bool) -> None:
    r, upstream = gateway
    upstream.enqueue(tool_answer())
    choice = {"type": "function", "function": {"name": "get_weather"}}
    out = await call(sync, openai_client(r, sync=sync).chat.completions.create, model=MODEL, messages=HI,
                     tools=TOOLS, tool_choice=choice)
    call_ = out.choices[0].message.tool_calls[0]
    assert (call_.id, call_.function.name, orjson.loads(call_.function.arguments)) == (
        "call_1", "get_weather", {"city": "Paris"})
    assert out.choices[0].finish_reason == "tool_calls"
    sent = upstream.received[0].json
    assert sent["tools"] == TOOLS and sent["tool_choice"] == choice


async def test_openai_json_schema_reaches_together_in_its_shape(gateway) -> None:
    r, upstream = gateway
    upstream.enqueue(json_reply(chat_completion('{"city": "Paris"}')))
    out = await openai_client(r).chat.completions.create(model=MODEL, messages=HI, response_format=JSON_SCHEMA)
    assert orjson.loads(out.choices[0].message.content) == {"city": "Paris"}
    assert upstream.received[0].json["response_format"] == {"type": "json_schema", "schema": SCHEMA}


async def test_openai_json_schema_reaches_openai_compatible_server_unchanged(
        mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    r = await router.start(config(vllm))
    await openai_client(r).chat.completions.create(model=MODEL, messages=HI, response_format=JSON_SCHEMA)
    assert vllm.received[0].json["response_format"] == JSON_SCHEMA


async def test_openai_image_parts_are_forwarded(gateway) -> None:
    r, upstream = gateway
    out = await openai_client(r).chat.completions.create(model=MODEL, messages=IMAGE)
    assert out.choices[0].message.content
    assert upstream.received[0].json["messages"] == IMAGE


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_openai_errors_are_the_sdks_types(gateway, router: RouterFactory, sync: bool) -> None:
    r, upstream = gateway
    client = openai_client(r, sync=sync)
    create = client.chat.completions.create
    with pytest.raises(openai.NotFoundError) as e404:
        await call(sync, create, model="nobody/no-such-model", messages=HI)
    assert e404.value.code == "model_not_found" and "nobody/no-such-model" in e404.value.message
    with pytest.raises(openai.BadRequestError) as e400:
        await call(sync, create, model=MODEL, messages=[{"role": "robot", "content": "hi"}])
    assert e400.value.param == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as e400:
        await call(sync, create, model=f"{MODEL}:nonsense", messages=HI)
    assert ":nonsense" in e400.value.message
    upstream.enqueue(json_reply({"error": {"message": "together is down"}}, status=500))
    with pytest.raises(openai.InternalServerError) as e502:
        await call(sync, create, model=MODEL, messages=HI)
    assert e502.value.status_code == 502 and "together is down" in e502.value.message
    locked = await router.start(config(upstream, server={"master_key": "right-key-123456"}))
    with pytest.raises(openai.AuthenticationError) as e401:
        await call(sync, openai_client(locked, "wrong-key-123456", sync=sync).chat.completions.create,
                   model=MODEL, messages=HI)
    assert e401.value.code == "invalid_api_key"


async def test_openai_mid_stream_failure_raises_api_error(gateway) -> None:
    r, upstream = gateway
    upstream.enqueue(sse_reply(stream_events(["one", "two", "three"]), break_after=2))
    stream = await openai_client(r).chat.completions.create(model=MODEL, messages=HI, stream=True)
    got = []

    async def drain() -> None:
        async for c in stream:
            got.append(c.choices[0].delta.content)

    with pytest.raises(openai.APIError) as err:
        await drain()
    assert got == ["one", "two"]
    assert "together" in err.value.message


# --- huggingface_hub ------------------------------------------------------------------------------
async def test_hf_inference_client_chat_and_stream(gateway) -> None:
    r, upstream = gateway
    client = InferenceClient(base_url=r.url, api_key="unused", timeout=10)
    out = await asyncio.to_thread(client.chat_completion, HI, model=MODEL, max_tokens=20)
    assert out.choices[0].message.content == "Hello from the mock"

    def stream() -> str:
        return "".join(c.choices[0].delta.content or "" for c in client.chat_completion(HI, model=MODEL, stream=True)
                       if c.choices)

    assert await asyncio.to_thread(stream) == "Hello from the mock"
    assert [s.path for s in upstream.received] == ["/v1/chat/completions"] * 2


async def test_hf_async_inference_client(gateway) -> None:
    r, upstream = gateway
    client = AsyncInferenceClient(base_url=r.url, api_key="unused", timeout=10)
    out = await client.chat.completions.create(model=MODEL, messages=HI)
    assert out.choices[0].message.content == "Hello from the mock"
    stream = await client.chat_completion(HI, model=MODEL, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "Hello from the mock"
    upstream.enqueue(tool_answer())
    out = await client.chat_completion(HI, model=MODEL, tools=TOOLS, tool_choice="auto")
    assert out.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert upstream.received[-1].json["tool_choice"] == "auto"
    await client.chat_completion(IMAGE, model=MODEL)
    assert upstream.received[-1].json["messages"] == IMAGE


async def test_hf_json_schema_reaches_the_provider_in_its_shape(gateway) -> None:
    r, upstream = gateway
    client = AsyncInferenceClient(base_url=r.url, api_key="unused", timeout=10)
    await client.chat_completion(HI, model=MODEL, response_format=JSON_SCHEMA)
    # exactly what the same request through the openai SDK gives Together
    assert upstream.received[-1].json["response_format"] == {"type": "json_schema", "schema": SCHEMA}


async def test_hf_errors(gateway) -> None:
    r, upstream = gateway
    client = AsyncInferenceClient(base_url=r.url, api_key="unused", timeout=10)
    with pytest.raises(HfHubHTTPError) as e404:
        await client.chat_completion(HI, model="nobody/no-such-model")
    assert e404.value.response.status_code == 404
    assert "nobody/no-such-model" in str(e404.value)
    with pytest.raises(HfHubHTTPError) as e400:
        await client.chat_completion(HI, model=f"{MODEL}:nonsense")
    assert e400.value.response.status_code == 400 and ":nonsense" in str(e400.value)
    upstream.enqueue(sse_reply(stream_events(["one", "two", "three"]), break_after=2))
    stream = await client.chat_completion(HI, model=MODEL, stream=True)
    with pytest.raises(TextGenerationError):
        async for _ in stream:
            pass
