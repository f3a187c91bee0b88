"""Chat completion and text generation, in both modes, sync and async: answers in huggingface_hub's
shape, streams as iterators, the provider that served named, OpenAI's alias, tools and
response_format translated by the provider's adapter (Together flattens a JSON schema)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubroute.client import InferenceClient
from tests.client.conftest import CHAT_ID, CHAT_MODEL, Setup
from tests.mocks import chat_completion, chunk, json_reply, sse_reply

HI = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}]
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


async def test_chat_completion(setup: Setup) -> None:
    out = await setup.client.chat_completion(HI, model=CHAT_MODEL, max_tokens=5, temperature=0.1)
    assert out.choices[0].message.content == "Hello from the mock"
    assert out["choices"][0]["message"]["content"] == "Hello from the mock"
    assert out.usage.total_tokens == 12
    assert out.provider == "together"
    assert type(out).__name__ == "ChatCompletionOutput"
    sent = setup.together.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json == {"model": CHAT_ID, "messages": HI, "max_tokens": 5, "temperature": 0.1}
    assert sent.headers["Authorization"] == "Bearer tg-test-key-0000"


async def test_chat_stream_and_the_openai_alias(setup: Setup) -> None:
    stream = await setup.client.chat.completions.create(model=CHAT_MODEL, messages=HI, stream=True)
    assert stream.provider == "together"
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the mock"
    assert all(type(c).__name__ == "ChatCompletionStreamOutput" for c in chunks)
    assert setup.together.received[-1].json["stream"] is True


async def test_tools_and_json_schema_go_through_the_adapter(setup: Setup) -> None:
    answer = chat_completion()
    answer["choices"][0].update(message={"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
                                finish_reason="tool_calls")
    setup.together.enqueue(json_reply(answer))
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
    out = await setup.client.chat_completion(HI, model=CHAT_MODEL, tools=TOOLS, tool_choice="auto",
                                             response_format=fmt)
    assert out.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    sent = setup.together.received[-1].json
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"
    assert sent["response_format"] == {"type": "json_schema", "schema": SCHEMA}  # Together's flat shape


async def test_pinned_provider_and_policy(setup: Setup) -> None:
    setup.client.provider = "together"
    out = await setup.client.chat_completion(HI, model=CHAT_MODEL)
    assert out.provider == "together"
    setup.client.provider = "cheapest"
    out = await setup.client.chat_completion(HI, model=CHAT_MODEL)
    assert out.provider == "together"
    assert setup.together.hits == 2


async def test_text_generation(setup: Setup) -> None:
    setup.together.enqueue(json_reply({"id": "c", "object": "text_completion", "created": 1, "model": CHAT_ID,
                                       "choices": [{"index": 0, "text": " 42.", "finish_reason": "stop"}],
                                       "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}))
    setup.together.enqueue(json_reply({"choices": [{"index": 0, "text": " 43.", "finish_reason": "length"}],
                                       "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}}))
    text = await setup.client.text_generation("The answer is", model=CHAT_MODEL, max_new_tokens=5, seed=1)
    assert text == " 42."
    sent = setup.together.received[-1]
    assert sent.path == "/v1/completions"
    assert sent.json == {"model": CHAT_ID, "prompt": "The answer is", "max_tokens": 5, "seed": 1}
    out = await setup.client.text_generation("The answer is", model=CHAT_MODEL, details=True)
    assert out.generated_text == " 43."
    assert out.details.finish_reason == "length" and out.details.generated_tokens == 3
    assert type(out).__name__ == "TextGenerationOutput"


async def test_text_generation_stream(setup: Setup) -> None:
    def text_chunk(text: str, finish: str | None = None) -> bytes:
        return b'data: {"choices": [{"index": 0, "text": "%s", "finish_reason": %s}]}' % (
            text.encode(), b'"%s"' % finish.encode() if finish else b"null")

    frames = [text_chunk(" 4"), text_chunk("2"), text_chunk(".", "stop"), b"data: [DONE]"]
    setup.together.enqueue(sse_reply(frames), sse_reply(frames))
    tokens = [t async for t in await setup.client.text_generation("Q", model=CHAT_MODEL, stream=True)]
    assert tokens == [" 4", "2", "."]
    items = [t async for t in await setup.client.text_generation("Q", model=CHAT_MODEL, stream=True, details=True)]
    assert [i.token.text for i in items] == [" 4", "2", "."]
    assert items[-1].generated_text == " 42." and items[-1].details.finish_reason == "eos_token"
    assert items[0].generated_text is None


async def test_sync_client(setup: Setup) -> None:
    """The derived sync client: the same calls, blocking, streams as plain iterators."""
    client = setup.client
    kwargs: dict[str, Any] = {"environ": {}}
    if setup.mode == "routed":
        kwargs["base_url"] = client.base_url
    else:
        kwargs["config"] = client._settings

    def run() -> tuple[Any, list[str], str | None]:
        with InferenceClient(**kwargs) as sync:
            out = sync.chat.completions.create(model=CHAT_MODEL, messages=HI)
            stream = sync.chat_completion(HI, model=CHAT_MODEL, stream=True)
            texts = [c.choices[0].delta.content or "" for c in stream]
            return out, texts, stream.provider

    out, texts, provider = await asyncio.to_thread(run)
    assert out.choices[0].message.content == "Hello from the mock" and out.provider == "together"
    assert "".join(texts) == "Hello from the mock" and provider == "together"
    assert repr(InferenceClient(**kwargs)).startswith("<InferenceClient(")


async def test_a_stream_closed_early_releases_its_upstream(setup: Setup) -> None:
    frames = [b"data: " + chunk(w) for w in ["a", "b", "c"]] + [b"data: [DONE]"]
    setup.together.enqueue(sse_reply(frames, delay=0.05))
    stream = await setup.client.chat_completion(HI, model=CHAT_MODEL, stream=True)
    first = await anext(stream)
    assert first.choices[0].delta.content == "a"
    await stream.aclose()
    out = await setup.client.chat_completion(HI, model=CHAT_MODEL)  # the client still works
    assert out.choices[0].message.content == "Hello from the mock"


async def test_a_request_the_provider_refuses_comes_back_with_its_status_and_body(setup: Setup) -> None:
    from hubroute.errors import ProviderHTTPError

    setup.together.enqueue(json_reply({"error": {"message": "messages: invalid"}}, status=400))
    with pytest.raises(ProviderHTTPError) as info:
        await setup.client.chat_completion([{"role": "user"}], model=CHAT_MODEL)
    err = info.value
    assert (err.provider, err.status_code) == ("together", 400)
    assert "messages: invalid" in str(err) and "messages: invalid" in (err.body or "")
    assert str(err).count("answered HTTP 400") == 1
    assert setup.together.hits == 1  # a client error is not retried elsewhere
