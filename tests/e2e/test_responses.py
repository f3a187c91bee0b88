"""OpenAI's Responses API (`/v1/responses`) on a chat provider, driven by OpenAI's own SDK against a
real router: text, instructions, tools and their outputs, streams with the SDK's own accumulator,
structured output, reasoning, `previous_response_id` over the store, GET / DELETE / input_items,
who may see a stored response; what the provider receives is a chat completion request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, config
from tests.mocks import MockProvider, chat_completion, chunk, json_reply, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"


Started = tuple[RunningRouter, MockProvider, openai.AsyncOpenAI]


async def started(mocks: Mocks, router: RouterFactory, clients: list[openai.AsyncOpenAI], **sections: Any) -> Started:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}, **sections))
    clients.append(openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=MASTER, max_retries=0))
    return r, a, clients[-1]


def sent(mock: MockProvider, i: int = -1) -> dict[str, Any]:
    return dict(orjson.loads(mock.received[i].body))


def tool_calls(*calls: tuple[str, str, str]) -> dict[str, Any]:
    return {**chat_completion(), "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in calls]}}]}


def call_chunk(index: int, **fields: Any) -> bytes:
    obj = orjson.loads(chunk())
    obj["choices"][0]["delta"] = {"tool_calls": [{"index": index, **fields}]}
    return b"data: " + orjson.dumps(obj)


WEATHER = {"type": "function", "name": "weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


async def test_a_response_and_what_the_provider_gets(mocks: Mocks, router: RouterFactory,
                                                      clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    made = await client.responses.create(
        model=MODEL, instructions="Be brief.", max_output_tokens=100, temperature=0.2, top_p=0.9,
        metadata={"team": "blue"}, user="u-1",
        input=[{"role": "developer", "content": "Answer in English."},
               {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                            {"type": "input_image", "image_url": "https://example.com/a.png"}]}])
    assert made.object == "response" and made.status == "completed" and made.model == MODEL
    assert made.output_text == "Hello from the mock"
    assert [item.type for item in made.output] == ["message"]
    assert made.id.startswith("resp_") and made.metadata == {"team": "blue"} and made.instructions == "Be brief."
    assert made.usage is not None and (made.usage.input_tokens, made.usage.output_tokens) == (7, 5)
    assert made.usage.total_tokens == 12
    body = sent(a)
    assert body["max_tokens"] == 100 and body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["user"] == "u-1" and "metadata" not in body and "store" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]},
    ]


async def test_a_string_input(mocks: Mocks, router: RouterFactory, clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    made = await client.responses.create(model=MODEL, input="hi", store=False)
    assert made.output_text == "Hello from the mock" and made.store is False
    assert sent(a)["messages"] == [{"role": "user", "content": "hi"}]


async def test_tools_a_round_trip_and_several_calls(mocks: Mocks, router: RouterFactory,
                                                    clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    a.enqueue(json_reply(tool_calls(("call_1", "weather", '{"city": "Paris"}'),
                                    ("call_2", "weather", '{"city": "Rome"}'))))
    made = await client.responses.create(model=MODEL, input="Weather in Paris and Rome?", tools=[WEATHER],
                                         tool_choice="required", parallel_tool_calls=True)
    calls = [item for item in made.output if item.type == "function_call"]
    assert [(c.call_id, c.name, orjson.loads(c.arguments)) for c in calls] == [
        ("call_1", "weather", {"city": "Paris"}), ("call_2", "weather", {"city": "Rome"})]
    body = sent(a)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": "The weather in a city", "parameters": WEATHER["parameters"]}}]
    assert body["tool_choice"] == "required"
    # the outputs go back with the calls replayed (as a stateless client does), answered in text
    replay = [{"role": "user", "content": "Weather in Paris and Rome?"},
              *[c.model_dump(exclude_none=True) for c in calls],
              {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
              {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text",
                                                                                 "text": "rain"}]}]
    final = await client.responses.create(model=MODEL, input=replay, tools=[WEATHER], store=False)
    assert final.output_text == "Hello from the mock"
    assert sent(a)["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ]


async def test_a_stream_through_the_sdks_accumulator(mocks: Mocks, router: RouterFactory,
                                                     clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    reasoning = orjson.loads(chunk())
    reasoning["choices"][0]["delta"] = {"reasoning_content": "Thinking it over."}
    frames = [b"data: " + orjson.dumps(reasoning), *stream_events(["Hi", " there"])]
    a.default = sse_reply(frames)
    kinds: list[str] = []
    sequence: list[int] = []
    async with client.responses.stream(model=MODEL, input="hi", reasoning={"effort": "high"}) as stream:
        async for event in stream:
            kinds.append(event.type)
            sequence.append(event.sequence_number)
        final = await stream.get_final_response()
    assert sequence == list(range(len(sequence)))
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
        "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    assert final.status == "completed" and final.output_text == "Hi there"
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text == "Thinking it over."  # type: ignore[union-attr]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (7, 2)
    body = sent(a)
    assert body["stream"] is True and body["reasoning_effort"] == "high"


async def test_several_tool_calls_streamed(mocks: Mocks, router: RouterFactory,
                                           clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    a.default = sse_reply([
        b"data: " + chunk("Let me look."),
        call_chunk(0, id="call_a", type="function", function={"name": "weather", "arguments": ""}),
        call_chunk(0, function={"arguments": '{"city": '}), call_chunk(0, function={"arguments": '"Paris"}'}),
        call_chunk(1, id="call_b", type="function", function={"name": "weather", "arguments": '{"city": "Rome"}'}),
        b"data: " + chunk(finish="tool_calls"), b"data: [DONE]"])
    async with client.responses.stream(model=MODEL, input="?", tools=[WEATHER]) as stream:
        deltas = [event.delta async for event in stream if event.type == "response.function_call_arguments.delta"]
        final = await stream.get_final_response()
    assert deltas == ['{"city": ', '"Paris"}', '{"city": "Rome"}']
    assert [item.type for item in final.output] == ["message", "function_call", "function_call"]
    assert [(c.call_id, c.arguments) for c in final.output[1:]] == [  # type: ignore[union-attr]
        ("call_a", '{"city": "Paris"}'), ("call_b", '{"city": "Rome"}')]


async def test_an_incomplete_response_keeps_its_usage(mocks: Mocks, router: RouterFactory,
                                                      clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    a.default = sse_reply([b"data: " + chunk("Once upon"), b"data: " + chunk(finish="length"),
                           b"data: " + chunk(choices=False, usage={"prompt_tokens": 9, "completion_tokens": 2,
                                                                   "total_tokens": 11}), b"data: [DONE]"])
    async with client.responses.stream(model=MODEL, input="a story", max_output_tokens=2) as stream:
        kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.incomplete"
    a.enqueue(json_reply({**chat_completion("Once upon"), "choices": [{"index": 0, "finish_reason": "length",
                                                                      "message": {"role": "assistant",
                                                                                  "content": "Once upon"}}]}))
    made = await client.responses.create(model=MODEL, input="a story", max_output_tokens=2)
    assert made.status == "incomplete" and made.incomplete_details is not None
    assert made.incomplete_details.reason == "max_output_tokens" and made.usage is not None


async def test_structured_output(mocks: Mocks, router: RouterFactory, clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    a.default = json_reply(chat_completion('{"city": "Paris", "rain": false}'))
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "rain": {"type": "boolean"}},
              "required": ["city", "rain"], "additionalProperties": False}
    made = await client.responses.create(model=MODEL, input="Paris?", text={"format": {
        "type": "json_schema", "name": "weather", "schema": schema, "strict": True}})
    assert orjson.loads(made.output_text) == {"city": "Paris", "rain": False}
    assert sent(a)["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "weather", "schema": schema, "strict": True}}
    await client.responses.create(model=MODEL, input="JSON please", text={"format": {"type": "json_object"}})
    assert sent(a)["response_format"] == {"type": "json_object"}


async def test_previous_response_id_continues_the_conversation(mocks: Mocks, router: RouterFactory,
                                                               clients: list[openai.AsyncOpenAI]) -> None:
    r, a, client = await started(mocks, router, clients)
    a.enqueue(json_reply(tool_calls(("call_1", "weather", '{"city": "Paris"}'))))
    first = await client.responses.create(model=MODEL, instructions="Be brief.", input="Weather in Paris?",
                                          tools=[WEATHER])
    a.default = sse_reply(stream_events(["Sunny", "."]))
    async with client.responses.stream(model=MODEL, previous_response_id=first.id, tools=[WEATHER], input=[
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]) as stream:
        second = await stream.get_final_response()
    assert second.output_text == "Sunny." and second.previous_response_id == first.id
    # the instructions are the request's own: the first turn's are not carried over (as OpenAI's)
    assert sent(a)["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    a.default = json_reply(chat_completion("You asked about Paris."))
    third = await client.responses.create(model=MODEL, previous_response_id=second.id, input="What did I ask?")
    assert [m["role"] for m in sent(a)["messages"]] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent(a)["messages"][3] == {"role": "assistant", "content": "Sunny."}

    got = await client.responses.retrieve(third.id)
    assert got.id == third.id and got.output_text == "You asked about Paris." and got.store is True
    items = await client.responses.input_items.list(third.id)
    assert [item.type for item in items.data] == ["message"]
    assert items.data[0].content[0].text == "What did I ask?"  # type: ignore[union-attr]
    deleted = await client.responses.delete(third.id)
    assert deleted is None
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(third.id)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model=MODEL, previous_response_id=third.id, input="again?")
    assert caught.value.code == "previous_response_not_found"
    # not stored: not found later
    kept_none = await client.responses.create(model=MODEL, input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(kept_none.id)
    async with httpx.AsyncClient(base_url=r.url) as http:
        listed = await http.get(f"/v1/responses/{first.id}/input_items", params={"order": "asc", "limit": 1},
                                headers={"authorization": f"Bearer {MASTER}"})
    assert listed.status_code == 200 and listed.json()["has_more"] is False and len(listed.json()["data"]) == 1


async def test_hosted_tools_are_left_out_and_said_so(mocks: Mocks, router: RouterFactory,
                                                     clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    raw = await client.responses.with_raw_response.create(
        model=MODEL, input="hi", tools=[WEATHER, {"type": "web_search"}], store=False)
    assert raw.headers["x-hubroute-dropped-tools"] == "web_search"
    assert [t["function"]["name"] for t in sent(a)["tools"]] == ["weather"]


async def test_bad_requests_get_openai_errors(mocks: Mocks, router: RouterFactory,
                                              clients: list[openai.AsyncOpenAI]) -> None:
    _r, a, client = await started(mocks, router, clients)
    for body, param in ((dict(input="x"), "model"), (dict(model=MODEL), "input"),
                        (dict(model=MODEL, input=[{"type": "what"}]), "input.0"),
                        (dict(model=MODEL, input="x", max_output_tokens=0), "max_output_tokens"),
                        (dict(model=MODEL, input="x", background=True), "background")):
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(**body)  # type: ignore[call-overload]
        assert caught.value.param == param, body
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="nobody/nothing", input="x")
    assert not a.received


async def test_a_stored_response_is_its_owners_only(mocks: Mocks, router: RouterFactory, postgres_url: str,
                                                     clients: list[openai.AsyncOpenAI]) -> None:
    """On PostgreSQL: ada's response is hers; bob gets 404 as for an unknown id, and cannot continue it;
    a response billed to acme is seen by acme's other members billing acme, and by its service keys."""
    from tests.e2e.test_keys import admin, new_key

    r, _a, _ = await started(mocks, router, clients, store={"url": postgres_url})
    for name in ("ada", "bob", "cy"):
        await admin(r, "POST", "/admin/v1/users", {"name": name}, status=201)
    await admin(r, "POST", "/admin/v1/orgs", {"name": "acme"}, status=201)
    for name in ("ada", "cy"):
        await admin(r, "POST", "/admin/v1/orgs/acme/members", {"user": name, "role": "member"}, status=201)
    keys = {name: (await new_key(r, user=name))["key"] for name in ("ada", "bob", "cy")}
    keys["acme"] = (await new_key(r, user=None, org="acme"))["key"]

    def as_(who: str, bill_to: str | None = None) -> openai.AsyncOpenAI:
        clients.append(openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=keys[who], max_retries=0,
                                          default_headers={"X-HF-Bill-To": bill_to} if bill_to else None))
        return clients[-1]

    own = await as_("ada").responses.create(model=MODEL, input="mine")
    assert (await as_("ada").responses.retrieve(own.id)).id == own.id
    with pytest.raises(openai.NotFoundError):
        await as_("bob").responses.retrieve(own.id)
    with pytest.raises(openai.NotFoundError):
        await as_("cy", "acme").responses.retrieve(own.id)  # (not billed to acme: ada's alone)
    with pytest.raises(openai.BadRequestError):
        await as_("bob").responses.create(model=MODEL, input="and?", previous_response_id=own.id)
    with pytest.raises(openai.NotFoundError):
        await as_("bob").responses.delete(own.id)

    shared = await as_("ada", "acme").responses.create(model=MODEL, input="for the team")
    assert (await as_("cy", "acme").responses.retrieve(shared.id)).id == shared.id
    assert (await as_("acme").responses.retrieve(shared.id)).id == shared.id
    with pytest.raises(openai.NotFoundError):
        await as_("cy").responses.retrieve(shared.id)  # cy billing herself: not acme's view
    with pytest.raises(openai.PermissionDeniedError):
        await as_("bob", "acme").responses.retrieve(shared.id)  # not a member: 403, as for billing
    follow = await as_("cy", "acme").responses.create(model=MODEL, input="more", previous_response_id=shared.id)
    assert follow.previous_response_id == shared.id


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize("turn", [1, 2])
async def test_codexs_recorded_requests(turn: int, mocks: Mocks, router: RouterFactory,
                                        clients: list[openai.AsyncOpenAI]) -> None:
    """Codex CLI's own requests (recorded from @openai/codex 0.169.0): every tool a chat provider can
    run reaches it (its namespace flattened), web_search is left out, its developer messages are
    system messages, the call it replays meets its output; the stream carries each item whole in
    `response.output_item.done` and ends in `response.completed`, what Codex needs to take a turn."""
    r, a, _ = await started(mocks, router, clients)
    recorded = orjson.loads((FIXTURES / f"codex-responses-turn{turn}.json").read_bytes())["request"]
    body = {**recorded["body"], "model": MODEL}
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as http:
        resp = await http.post("/v1/responses", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-hubroute-dropped-tools"] == "web_search"
    events = [orjson.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["store"] is False
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["type"] for item in done] == ["message"] and done[0]["content"][0]["text"] == "Hello from the mock"
    sent_ = sent(a)
    names = [t["function"]["name"] for t in sent_["tools"]]
    assert "exec_command" in names and "multi_agent_v1__spawn_agent" in names and len(names) == 12
    roles = [m["role"] for m in sent_["messages"]]
    assert roles[:4] == ["system", "system", "user", "user"]
    if turn == 2:
        assert roles[4:] == ["assistant", "tool"]
        call = sent_["messages"][4]["tool_calls"][0]
        assert sent_["messages"][5]["tool_call_id"] == call["id"] and call["function"]["name"] == "exec_command"


async def test_reasoning_goes_back_to_the_provider_that_made_it_and_call_ids_are_unique(
        mocks: Mocks, router: RouterFactory, clients: list[openai.AsyncOpenAI]) -> None:
    """A reasoning item sent back (replayed, as Codex does, or through previous_response_id) reaches the
    provider that reasoned it when it takes reasoning back (Novita: `reasoning_content`), and nowhere
    else; a provider's repeated call ids are made unique, so each call meets its own output."""
    nv, a = await mocks.start("novita"), await mocks.start("a")
    r = await router.start(config(
        a, server={"master_key": MASTER}, providers={"novita": {"base_url": nv.url, "api_key": "k"}},
        models=[{"id": MODEL, "providers": [{"provider": "novita", "provider_id": "nv-model"},
                                            {"provider": "a", "provider_id": "a-model"}]}]))
    clients.append(openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=MASTER, max_retries=0))
    client = clients[-1]
    answer = tool_calls(("0", "weather", '{"city": "Paris"}'), ("0", "weather", '{"city": "Rome"}'))
    answer["choices"][0]["message"]["reasoning_content"] = "Two cities."
    nv.enqueue(json_reply(answer))
    first = await client.responses.create(model=f"{MODEL}:novita", input="Paris and Rome?", tools=[WEATHER])
    reasoning, *calls = first.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "hubroute:novita:nv-model"
    ids = [c.call_id for c in calls]  # type: ignore[union-attr]
    assert ids[0] == "0" and len(set(ids)) == 2
    outputs = [{"type": "function_call_output", "call_id": i, "output": f"out {i}"} for i in ids]
    replay = [{"role": "user", "content": "Paris and Rome?"}, *[item.model_dump(exclude_none=True)
                                                                 for item in first.output], *outputs]
    await client.responses.create(model=f"{MODEL}:novita", input=replay, tools=[WEATHER], store=False)
    assistant = sent(nv)["messages"][1]
    assert assistant["reasoning_content"] == "Two cities." and [c["id"] for c in assistant["tool_calls"]] == ids
    assert [m["tool_call_id"] for m in sent(nv)["messages"][2:]] == ids
    await client.responses.create(model=f"{MODEL}:novita", previous_response_id=first.id, input=outputs,
                                  tools=[WEATHER])
    assert sent(nv)["messages"][1]["reasoning_content"] == "Two cities."
    await client.responses.create(model=f"{MODEL}:a", input=replay, tools=[WEATHER], store=False)
    body = sent(a)
    assert "Two cities." not in orjson.dumps(body).decode() and "_hubroute_replays" not in body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "tool"]


async def test_a_store_that_cannot_be_reached(mocks: Mocks, router: RouterFactory, postgres_url: str,
                                              clients: list[openai.AsyncOpenAI],
                                              caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL cut off (through a TCP proxy): a response is still answered, whole or streamed, with
    `store: false` and one log line; reading one back is a 503 to retry, never a 500; when the database
    is back, responses are kept again."""
    import logging

    from tests.proxy import TcpProxy

    host, port = "127.0.0.1", int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = await TcpProxy(host, port).start()
    try:
        _r, a, client = await started(mocks, router, clients, store={"url": proxy.url_for(postgres_url)})
        kept = await client.responses.create(model=MODEL, input="hi")
        caplog.set_level(logging.WARNING)
        proxy.cut()
        whole = await client.responses.create(model=MODEL, input="hi")
        assert whole.output_text == "Hello from the mock" and whole.store is False
        a.default = sse_reply(stream_events(["Hi"]))
        async with client.responses.stream(model=MODEL, input="hi") as stream:
            streamed = await stream.get_final_response()
        assert streamed.output_text == "Hi" and streamed.store is False
        assert sum("not kept" in rec.getMessage() for rec in caplog.records) == 2
        for call in (lambda: client.responses.retrieve(kept.id), lambda: client.responses.delete(kept.id),
                     lambda: client.responses.create(model=MODEL, input="and?", previous_response_id=kept.id)):
            with pytest.raises(openai.InternalServerError) as caught:
                await call()
            assert caught.value.status_code == 503 and "try again" in str(caught.value)
        proxy.restore()
        a.default = json_reply(chat_completion())
        for _ in range(50):
            try:
                again = await client.responses.create(model=MODEL, input="hi")
            except openai.InternalServerError:
                again = None
            if again is not None and again.store:
                break
            await asyncio.sleep(0.2)
        assert again is not None and again.store is True
        assert (await client.responses.retrieve(kept.id)).id == kept.id
    finally:
        await proxy.close()


async def test_the_stores_work_is_in_the_metrics(mocks: Mocks, router: RouterFactory, tmp_path: Path,
                                                 clients: list[openai.AsyncOpenAI]) -> None:
    """On a SQLite file, a stored response is written on the event loop, and /metrics counts it; the usage
    ledger's backlog and rows written are there too."""
    r, a, client = await started(mocks, router, clients,
                                 store={"url": f"sqlite:///{tmp_path / 'store.db'}", "flush_interval": 0.05})
    await client.responses.create(model=MODEL, input="one")
    await client.responses.create(model=MODEL, input="not kept", store=False)
    a.default = sse_reply(stream_events(["Two", "."]))
    async with client.responses.stream(model=MODEL, input="two") as stream:
        await stream.get_final_response()

    async def metrics() -> dict[str, float]:
        async with httpx.AsyncClient(base_url=r.url) as http:
            text = (await http.get("/metrics", headers={"authorization": f"Bearer {MASTER}"})).text
        return {name: float(value) for name, _, value in
                (line.partition(" ") for line in text.splitlines() if line.startswith("hubroute_"))}

    for _ in range(100):  # (the ledger writes every 50 ms)
        seen = await metrics()
        if seen["hubroute_ledger_rows_written_total"] == 3:
            break
        await asyncio.sleep(0.05)
    assert seen["hubroute_ledger_rows_written_total"] == 3 and seen["hubroute_ledger_pending_rows"] == 0
    assert seen["hubroute_ledger_rows_spilled_total"] == 0
    assert seen["hubroute_store_loop_writes_total"] == 2  # (the two stored responses; not the third)
    assert seen["hubroute_store_handed_over_total"] == 0
