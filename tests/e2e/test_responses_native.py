"""`/v1/responses` to a provider that speaks the Responses API itself (OpenAI's adapter declares its
route): a request that needs none of the router's state (`store: false`, no `previous_response_id`,
no MCP tools) goes to it as it came, hosted tools and reasoning included, and its answer or events come
back as they came, metered from the usage they carry; any other request is translated onto chat."""

from __future__ import annotations

from typing import Any

import openai
import orjson
from aiohttp import web

from hubroute.server.record import RequestRecord
from hubroute.usage import Usage
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, config
from tests.mocks import MockProvider, json_reply, sse_reply

MASTER = "sk-hubroute-master-key-1"
USAGE = {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 3}, "output_tokens": 7,
         "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 18}


def response(text: str = "Hello natively", status: str = "completed") -> dict[str, Any]:
    return {"id": "resp_native_1", "object": "response", "created_at": 1700000000, "status": status,
            "model": "gpt-test", "output": [{"id": "msg_1", "type": "message", "status": "completed",
                                             "role": "assistant", "content": [
                                                 {"type": "output_text", "text": text, "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": USAGE}


def events(text: str = "Hello natively") -> list[bytes]:
    """A provider's own Responses stream: `event:` and `data:` lines, no [DONE]."""
    created = {**response(), "status": "in_progress", "output": [], "usage": None}
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    sequence = [
        {"type": "response.created", "response": created},
        {"type": "response.in_progress", "response": created},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "part": part},
        *({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
           "delta": piece, "logprobs": []} for piece in (text[:5], text[5:])),
        {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "text": text, "logprobs": []},
        {"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
         "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": response(text)["output"][0]},
        {"type": "response.completed", "response": response(text)},
    ]
    return [b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps({**e, "sequence_number": n})
            for n, e in enumerate(sequence)]


def native(frames: list[bytes] | None = None, answer: dict[str, Any] | None = None) -> Any:
    """An OpenAI server: its Responses route answers natively, its chat route as the mock does."""
    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        if request.path.endswith("/responses"):
            if body.get("stream"):
                return await sse_reply(frames or events())(request, mock)  # type: ignore[no-any-return]
            return await json_reply(answer or response())(request, mock)  # type: ignore[no-any-return]
        return await json_reply({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-test",
                                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                     "role": "assistant", "content": "Hello by chat"}}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": 3}})(request, mock)
    return reply


async def started(mocks: Mocks, router: RouterFactory, clients: list[openai.AsyncOpenAI]
                  ) -> tuple[RunningRouter, MockProvider, openai.AsyncOpenAI, list[RequestRecord]]:
    oa, other = await mocks.start("openai"), await mocks.start("a")
    oa.default = native()
    r = await router.start(config(
        other, server={"master_key": MASTER}, providers={"openai": {"base_url": oa.url, "api_key": "sk-up"}},
        models=[{"id": MODEL, "providers": [{"provider": "openai", "provider_id": "gpt-test"},
                                            {"provider": "a", "provider_id": "a-model"}]}]))
    clients.append(openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=MASTER, max_retries=0))
    got: list[RequestRecord] = []
    r.app.sinks.append(got.append)
    return r, oa, clients[-1], got


async def test_a_stateless_request_goes_to_openai_as_it_came(mocks: Mocks, router: RouterFactory,
                                                           clients: list[openai.AsyncOpenAI]) -> None:
    _r, oa, client, got = await started(mocks, router, clients)
    raw = await client.responses.with_raw_response.create(
        model=f"{MODEL}:openai", input="hi", store=False, tools=[{"type": "web_search"}],
        reasoning={"effort": "high", "summary": "auto"}, include=["reasoning.encrypted_content"])
    made = raw.parse()
    assert made.id == "resp_native_1" and made.output_text == "Hello natively"
    assert "x-hubroute-dropped-tools" not in raw.headers and raw.headers["x-inference-provider"] == "openai"
    [asked] = oa.received
    assert asked.path == "/v1/responses"
    body = orjson.loads(asked.body)
    assert body["model"] == "gpt-test" and body["tools"] == [{"type": "web_search"}]
    assert body["include"] == ["reasoning.encrypted_content"] and body["store"] is False
    [rec] = got
    assert rec.usage == Usage(11, 7, input_cached=3, output_reasoning=2)


async def test_a_stateless_stream_comes_back_as_it_came(mocks: Mocks, router: RouterFactory,
                                                        clients: list[openai.AsyncOpenAI]) -> None:
    r, oa, client, got = await started(mocks, router, clients)
    async with client.responses.stream(model=f"{MODEL}:openai", input="hi", store=False) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == "Hello natively" and kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as http:
        resp = await http.post("/v1/responses", json={"model": f"{MODEL}:openai", "input": "hi", "store": False,
                                                      "stream": True})
    lines = resp.text.split("\n\n")
    assert lines[0].startswith("event: response.created\ndata: {") and "[DONE]" not in resp.text
    assert all(orjson.loads(f.split("\ndata: ")[1])["type"] == f.split("\n")[0][7:] for f in lines if f)
    assert [rec.usage for rec in got] == [Usage(11, 7, input_cached=3, output_reasoning=2)] * 2
    assert all(x.path == "/v1/responses" for x in oa.received)


async def test_a_stream_cut_short_ends_with_the_apis_error_event(mocks: Mocks, router: RouterFactory,
                                                                 clients: list[openai.AsyncOpenAI]) -> None:
    r, oa, _client, got = await started(mocks, router, clients)
    oa.default = sse_reply(events(), break_after=5)
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as http:
        resp = await http.post("/v1/responses", json={"model": f"{MODEL}:openai", "input": "hi", "store": False,
                                                      "stream": True})
    last = resp.text.strip().split("\n\n")[-1]
    assert last.startswith("event: error\ndata: ")
    error = orjson.loads(last.split("data: ", 1)[1])
    assert error["type"] == "error" and error["sequence_number"] == 5 and error["message"]
    [rec] = got
    assert rec.error is not None and rec.usage is not None  # (counted: the provider's usage never came)


async def test_requests_that_need_the_routers_state_are_translated(mocks: Mocks, router: RouterFactory,
                                                                   clients: list[openai.AsyncOpenAI]) -> None:
    _r, oa, client, _got = await started(mocks, router, clients)
    kept = await client.responses.create(model=f"{MODEL}:openai", input="hi")  # store: true, the default
    assert kept.output_text == "Hello by chat" and kept.id.startswith("resp_") and kept.store is True
    await client.responses.create(model=f"{MODEL}:openai", input="and?", store=False,
                                  previous_response_id=kept.id)
    assert [x.path for x in oa.received] == ["/v1/chat/completions", "/v1/chat/completions"]
    # a provider that does not speak the API among the candidates: translated, for all of them
    await client.responses.create(model=MODEL, input="hi", store=False)
    assert oa.received[-1].path == "/v1/chat/completions"
