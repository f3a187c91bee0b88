"""Anthropic's Messages API (`/v1/messages`) on a chat provider, driven by Anthropic's own SDK against a
real router: text, tools and their results, streams in Anthropic's event order, errors in its shape,
`x-api-key`, token counting; what the provider receives is a chat completion request."""

from __future__ import annotations

import re
from typing import Any

import anthropic
import orjson
import pytest

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, config
from tests.mocks import MockProvider, chat_completion, chunk, json_reply, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"


Started = tuple[RunningRouter, MockProvider, anthropic.AsyncAnthropic]


async def started(mocks: Mocks, router: RouterFactory, clients: list[anthropic.AsyncAnthropic]) -> Started:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}))
    clients.append(anthropic.AsyncAnthropic(base_url=r.url, api_key=MASTER, max_retries=0))
    return r, a, clients[-1]


def sent(mock: MockProvider, i: int = -1) -> dict[str, Any]:
    return dict(orjson.loads(mock.received[i].body))


async def test_a_message_and_what_the_provider_gets(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    _r, a, client = await started(mocks, router, clients)
    message = await client.messages.create(
        model=MODEL, max_tokens=100, system=[{"type": "text", "text": "Be brief."}], extra_body={"temperature": 0.2},
        stop_sequences=["END"], metadata={"user_id": "u-1"},
        messages=[{"role": "user", "content": "hi"},
                  {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                                                    {"type": "text", "text": "Hello."}]},
                  {"role": "user", "content": [{"type": "text", "text": "And this?"}, {"type": "image", "source": {
                      "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}])
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "Hello from the mock"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (7, 5)
    body = sent(a)
    assert body["max_tokens"] == 100 and body["temperature"] == 0.2 and body["stop"] == ["END"]
    assert body["user"] == "u-1"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello."},  # the thinking block dropped, never made text
        {"role": "user", "content": [
            {"type": "text", "text": "And this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
    ]


async def test_tools_their_calls_and_their_results(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    _r, a, client = await started(mocks, router, clients)
    calls = [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
             {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}]
    a.default = json_reply({**chat_completion(), "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": calls}}]})
    tools = [{"name": "weather", "description": "The weather in a city",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    message = await client.messages.create(model=MODEL, max_tokens=50, tools=tools,
                                           tool_choice={"type": "any", "disable_parallel_tool_use": False},
                                           messages=[{"role": "user", "content": "Weather in Paris and Rome?"}])
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.id, b.name, b.input) for b in message.content] == [
        ("tool_use", "call_1", "weather", {"city": "Paris"}), ("tool_use", "call_2", "weather", {"city": "Rome"})]
    body = sent(a)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "parameters": tools[0]["input_schema"], "description": "The weather in a city"}}]
    assert body["tool_choice"] == "required"

    a.default = json_reply(chat_completion("Sunny in Paris, rainy in Rome."))
    again = await client.messages.create(model=MODEL, max_tokens=50, tools=tools, messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "no data"}],
             "is_error": True},
            {"type": "text", "text": "Summarise."}]}])
    assert again.content[0].text == "Sunny in Paris, rainy in Rome."
    history = sent(a)["messages"]
    assert history[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]}
    assert history[2:] == [{"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                           {"role": "tool", "tool_call_id": "call_2", "content": "Error: no data"},
                           {"role": "user", "content": "Summarise."}]


async def test_a_stream_in_anthropics_order(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    _r, a, client = await started(mocks, router, clients)
    a.default = sse_reply(stream_events(["Hello", " there", "!"]))
    async with client.messages.stream(model=MODEL, max_tokens=100,
                                      messages=[{"role": "user", "content": "hi"}]) as stream:
        kinds = [e.type async for e in stream]
        final = await stream.get_final_message()
    assert final.content[0].text == "Hello there!" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3
    raw = [k for k in kinds if k in ("message_start", "content_block_start", "content_block_delta",
                                     "content_block_stop", "message_delta", "message_stop")]
    assert raw == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                   "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert sent(a)["stream"] is True


async def test_several_tool_calls_streamed(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    _r, a, client = await started(mocks, router, clients)

    def call(index: int, **fields: Any) -> bytes:
        obj = orjson.loads(chunk())
        obj["choices"][0]["delta"] = {"tool_calls": [{"index": index, **fields}]}
        return b"data: " + orjson.dumps(obj)

    frames = [b"data: " + chunk("Let me look."),
              call(0, id="call_a", type="function", function={"name": "weather", "arguments": ""}),
              call(0, function={"arguments": '{"city": '}), call(0, function={"arguments": '"Paris"}'}),
              call(1, id="call_b", type="function", function={"name": "weather", "arguments": '{"city": "Rome"}'}),
              b"data: " + chunk(finish="tool_calls"), b"data: [DONE]"]
    a.default = sse_reply(frames)
    async with client.messages.stream(model=MODEL, max_tokens=100, tools=[{"name": "weather", "input_schema": {
            "type": "object"}}], messages=[{"role": "user", "content": "?"}]) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Let me look."
    assert [(b.id, b.input) for b in final.content[1:]] == [("call_a", {"city": "Paris"}), ("call_b", {"city": "Rome"})]
    assert final.stop_reason == "tool_use"


async def test_errors_in_anthropics_shape_and_keys_as_x_api_key(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    r, _a, client = await started(mocks, router, clients)
    async with r.client() as c:
        ok = await c.post("/v1/messages?beta=true", headers={"x-api-key": MASTER, "anthropic-version": "2023-06-01",
                                                             "anthropic-beta": "tools-2024-05-16"},
                          json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
        assert ok.status_code == 200 and ok.json()["type"] == "message"
        bad_key = await c.post("/v1/messages", headers={"x-api-key": "sk-wrong-key"},
                               json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
        assert bad_key.status_code == 401
        assert bad_key.json() == {"type": "error", "error": {"type": "authentication_error",
                                                             "message": bad_key.json()["error"]["message"]}}
        no_max = await c.post("/v1/messages", headers={"x-api-key": MASTER},
                              json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert no_max.status_code == 400 and no_max.json()["error"]["type"] == "invalid_request_error"
        assert "max_tokens" in no_max.json()["error"]["message"]
    with pytest.raises(anthropic.NotFoundError) as missing:
        await client.messages.create(model="nobody/no-such-model", max_tokens=5,
                                     messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_counting_tokens(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    _r, a, client = await started(mocks, router, clients)
    short = await client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    long = await client.messages.count_tokens(model=MODEL, system="You are a careful assistant. " * 20,
                                              messages=[{"role": "user", "content": "hi " * 200}])
    assert 0 < short.input_tokens < long.input_tokens
    assert a.hits == 0  # counted here, no provider asked


async def test_system_messages_within_the_conversation_and_adaptive_thinking(
        mocks: Mocks, router: RouterFactory, clients: list[anthropic.AsyncAnthropic]) -> None:
    r, a, _ = await started(mocks, router, clients)
    async with r.client() as c:  # (as Claude Code sends them: a system message among the messages)
        resp = await c.post("/v1/messages", headers={"x-api-key": MASTER}, json={
            "model": MODEL, "max_tokens": 64, "thinking": {"type": "adaptive"}, "output_config": {"effort": "max"},
            "context_management": {"edits": []},
            "messages": [{"role": "user", "content": "hi"},
                         {"role": "system", "content": [{"type": "text", "text": "Now be terse.",
                                                         "cache_control": {"type": "ephemeral"}}]}]})
    assert resp.status_code == 200, resp.text
    body = sent(a)
    assert body["messages"] == [{"role": "user", "content": "hi"}, {"role": "system", "content": "Now be terse."}]
    assert body["reasoning_effort"] == "high" and "context_management" not in body


async def test_tool_ids_every_client_can_send_back(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    """A provider's id outside Anthropic's pattern reaches the client as one that carries it, and goes back
    to the provider as it was; a missing or repeated id gets one of its own, so every tool_use meets its
    own tool_result."""
    _r, a, client = await started(mocks, router, clients)
    calls = [{"id": "functions.read:0", "type": "function", "function": {"name": "read", "arguments": "{}"}},
             {"id": "0", "type": "function", "function": {"name": "read", "arguments": '{"n": 1}'}},
             {"id": "0", "type": "function", "function": {"name": "read", "arguments": '{"n": 2}'}}]
    a.enqueue(json_reply({**chat_completion(), "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": calls}}]}))
    tools = [{"name": "read", "input_schema": {"type": "object"}}]
    asked = [{"role": "user", "content": "read"}]
    message = await client.messages.create(model=MODEL, max_tokens=50, tools=tools, messages=asked)
    ids = [b.id for b in message.content if b.type == "tool_use"]
    assert len(set(ids)) == 3 and ids[1] == "0" and ids[2] != "0"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    await client.messages.create(model=MODEL, max_tokens=50, tools=tools, messages=[
        *asked, {"role": "assistant", "content": [b.model_dump() for b in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "content": f"r{n}"}
                                     for n, i in enumerate(ids)]}])
    back = sent(a)["messages"]
    assert [c["id"] for c in back[1]["tool_calls"]] == ["functions.read:0", "0", ids[2]]
    assert [(m["tool_call_id"], m["content"]) for m in back[2:]] == [("functions.read:0", "r0"), ("0", "r1"),
                                                                    (ids[2], "r2")]


async def test_thinking_goes_back_to_the_provider_that_made_it_and_nowhere_else(
        mocks: Mocks, router: RouterFactory, clients: list[anthropic.AsyncAnthropic]) -> None:
    """Novita takes its model's reasoning back (`reasoning_content`, its interleaved thinking); the same
    conversation sent to another provider loses it, never as text."""
    nv, a = await mocks.start("novita"), await mocks.start("a")
    conf = config(a, server={"master_key": MASTER}, providers={"novita": {"base_url": nv.url, "api_key": "k"}},
                  models=[{"id": MODEL, "providers": [{"provider": "novita", "provider_id": "nv-model"},
                                                      {"provider": "a", "provider_id": "a-model"}]}])
    r = await router.start(conf)
    clients.append(anthropic.AsyncAnthropic(base_url=r.url, api_key=MASTER, max_retries=0))
    client = clients[-1]
    nv.enqueue(json_reply({**chat_completion(), "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "reasoning_content": "The file first.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{}"}}]}}]}))
    tools = [{"name": "read", "input_schema": {"type": "object"}}]
    first = await client.messages.create(model=f"{MODEL}:novita", max_tokens=50, tools=tools,
                                         thinking={"type": "enabled", "budget_tokens": 1024},
                                         messages=[{"role": "user", "content": "go"}])
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "The file first."
    assert thinking.signature == "hubroute:novita:nv-model"
    turn = [{"role": "user", "content": "go"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "text"}]}]
    await client.messages.create(model=f"{MODEL}:novita", max_tokens=50, tools=tools, messages=turn)
    assistant = sent(nv)["messages"][1]
    assert assistant["reasoning_content"] == "The file first." and assistant["content"] is None
    assert "_hubroute_replays" not in sent(nv) and "_hubroute_reasoning" not in assistant
    await client.messages.create(model=f"{MODEL}:a", max_tokens=50, tools=tools, messages=turn)
    body = sent(a)
    assert "reasoning_content" not in body["messages"][1] and "The file first." not in orjson.dumps(body).decode()
    assert "_hubroute_replays" not in body


async def test_streamed_thinking_is_signed_before_its_block_ends(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    _r, a, client = await started(mocks, router, clients)
    thought = orjson.loads(chunk())
    thought["choices"][0]["delta"] = {"reasoning": "Short."}
    a.default = sse_reply([b"data: " + orjson.dumps(thought), *stream_events(["Hi"])])
    async with client.messages.stream(model=MODEL, max_tokens=100, thinking={"type": "enabled", "budget_tokens": 2000},
                                      messages=[{"role": "user", "content": "hi"}]) as stream:
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        final = await stream.get_final_message()
    assert deltas == ["thinking_delta", "signature_delta", "text_delta"]
    assert final.content[0].type == "thinking" and final.content[0].signature == "hubroute:a:a-model"
    assert sent(a)["reasoning_effort"] == "low"


async def test_pings_while_the_provider_is_silent(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic], monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream whose provider pauses gets Anthropic's `ping` events meanwhile (every
    `keepalive_every` seconds without a chunk), and none while chunks come."""
    import importlib

    monkeypatch.setattr(importlib.import_module("hubroute.server.routes.messages")._Events, "keepalive_every", 0.2)
    r, a, client = await started(mocks, router, clients)
    first, *rest = stream_events(["Hi", " there"])
    a.default = sse_reply([first, b"\n\n".join(rest)], delay=1.2)  # (a pause of 1.2 s after the first chunk)
    async with r.client(headers={"x-api-key": MASTER}) as http:
        resp = await http.post("/v1/messages", json={"model": MODEL, "max_tokens": 20, "stream": True,
                                                    "messages": [{"role": "user", "content": "hi"}]})
    kinds = [line[7:] for line in resp.text.splitlines() if line.startswith("event: ")]
    assert kinds[:2] == ["message_start", "ping"] and kinds[-1] == "message_stop"
    deltas = [i for i, kind in enumerate(kinds) if kind == "content_block_delta"]
    assert len(deltas) == 2 and kinds[deltas[0] + 1:deltas[1]].count("ping") >= 1
    assert "ping" not in kinds[deltas[1]:]
    async with client.messages.stream(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "hi"}]) as s:
        assert (await s.get_final_message()).content[0].text == "Hi there"  # (the SDK skips the pings)


async def test_a_server_that_takes_only_short_tool_ids_gets_them_fitted(mocks: Mocks, router: RouterFactory,
        clients: list[anthropic.AsyncAnthropic]) -> None:
    """`providers.<name>.tool_id_length: 9` (vLLM serving a Mistral model checks ids so): Anthropic's
    `toolu_...` ids reach it as nine letters and digits, a call and its result alike; ids it made itself
    stay as they are."""
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}, providers={"a": {
        "type": "openai-compatible", "base_url": f"{a.url}/v1", "tool_id_length": 9}}))
    clients.append(anthropic.AsyncAnthropic(base_url=r.url, api_key=MASTER, max_retries=0))
    tools = [{"name": "read", "input_schema": {"type": "object"}}]
    await clients[-1].messages.create(model=MODEL, max_tokens=50, tools=tools, messages=[
        {"role": "user", "content": "read"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01AbCdEfGhIjKlMnOpQrStUv", "name": "read",
                                           "input": {}},
                                          {"type": "tool_use", "id": "Ab3dE6gH9", "name": "read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01AbCdEfGhIjKlMnOpQrStUv",
                                      "content": "one"},
                                     {"type": "tool_result", "tool_use_id": "Ab3dE6gH9", "content": "two"}]}])
    messages = sent(a)["messages"]
    ids = [c["id"] for c in messages[1]["tool_calls"]]
    assert all(re.fullmatch(r"[A-Za-z0-9]{9}", i) for i in ids) and ids[1] == "Ab3dE6gH9"
    assert [m["tool_call_id"] for m in messages[2:]] == ids
