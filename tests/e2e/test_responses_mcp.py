"""Remote MCP tools on `/v1/responses`, run by the router: a real MCP server (the SDK's own, over
streamable HTTP on 127.0.0.1), a real router, a mock chat provider that first calls the MCP tool and
then answers, and OpenAI's SDK as the client. What is checked: the output items (`mcp_list_tools`,
`mcp_call` with what the server computed, the message), what the provider received in the second
round, the usage summed over the rounds in the response, the request's record, the ledger and the
bill; OpenAI's stream events in order across rounds; the server's failures as items; the bounds; the
refusals (hosts, addresses, approval); and the `headers` given for the server never echoed, stored
or logged."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from mcp import MCPError
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from hubroute.server.record import RequestRecord
from hubroute.server.routes import responses_mcp
from hubroute.server.routes.responses_mcp import MAX_ROUNDS
from tests.client.test_mcp import serving
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, config, until
from tests.e2e.test_ledger import until_rows
from tests.mocks import MockProvider, chat_completion, chunk, json_reply, sse_reply, stream_events
from tests.ports import free_port, listening_socket

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}
PRICES = {"a": {"input": 1.0, "output": 2.0}}  # USD per 1M tokens: a token in is 1,000 nano-dollars, out 2,000
SECRET = "mcp-s3cret-token-0042"
WEATHER = {"type": "function", "name": "weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


# --- the MCP server ------------------------------------------------------------------------------------
@dataclass
class Served:
    url: str
    #: the tool calls the server ran
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    #: the headers of every HTTP request the server received
    headers: list[dict[bytes, bytes]] = field(default_factory=list)


@pytest.fixture
async def calc() -> AsyncIterator[Served]:
    """An MCP server with `add`, a tool that fails (`jam`) and one that answers a protocol error (`quota`)."""
    server = MCPServer("calc")
    served = Served("")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        served.calls.append(("add", a, b))
        return a + b

    @server.tool(description="Turn the gears.")
    def jam(speed: int = 1) -> str:
        served.calls.append(("jam", speed))
        raise ToolError("the gears jammed")

    @server.tool(description="Spend a quota.")
    def quota() -> str:
        raise MCPError(-32001, "quota exhausted")

    app = server.streamable_http_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            served.headers.append(dict(scope["headers"]))
        await app(scope, receive, send)

    async with serving(recording) as url:
        served.url = url + "/mcp"
        yield served


def mcp_tool(url: str, label: str = "calc", **more: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": label, "server_url": url, "require_approval": "never", **more}


# --- the router and its provider -------------------------------------------------------------------------
@dataclass
class Setup:
    r: RunningRouter
    a: MockProvider
    client: openai.AsyncOpenAI
    records: list[RequestRecord]
    db: str


@pytest.fixture
async def setup(mocks: Mocks, router: RouterFactory, tmp_path: Path) -> AsyncIterator[Setup]:
    """A router that may reach MCP servers on 127.0.0.1 over http, billing ada's key from her credits."""
    a = await mocks.start("a")
    db = f"sqlite:///{tmp_path / 'hubroute.db'}"
    r = await router.start(config(a, pricing=PRICES, server={"master_key": MASTER}, billing={"credits": True},
                                  store={"url": db, "flush_interval": 0.05},
                                  responses={"mcp_allowed_hosts": ["http://127.0.0.1"]},
                                  inputs={"allowed_hosts": ["127.0.0.1"]}))
    async with r.client(headers=ADMIN) as c:
        assert (await c.post("/admin/v1/users", json={"name": "ada"})).status_code == 201
        key = (await c.post("/admin/v1/keys", json={"user": "ada"})).json()["key"]
        assert (await c.post("/admin/v1/credits", json={"user": "ada", "usd": 1.0})).status_code == 201
    records: list[RequestRecord] = []
    r.app.sinks.append(records.append)
    client = openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=key, max_retries=0)
    yield Setup(r, a, client, records, db)
    await client.close()


def calls(*called: tuple[str, str, str], usage: tuple[int, int] = (20, 8)) -> dict[str, Any]:
    """A chat completion calling tools (id, name, arguments)."""
    return {**chat_completion(), "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                           "total_tokens": sum(usage)},
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None, "tool_calls": [
                    {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                    for cid, name, args in called]}}]}


def answer(text: str, usage: tuple[int, int] = (30, 4)) -> dict[str, Any]:
    return {**chat_completion(text), "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                               "total_tokens": sum(usage)}}


def call_chunk(index: int, **fields: Any) -> bytes:
    obj = orjson.loads(chunk())
    obj["choices"][0]["delta"] = {"tool_calls": [{"index": index, **fields}]}
    return b"data: " + orjson.dumps(obj)


def streamed_call(*called: tuple[str, str, list[str]], usage: tuple[int, int] = (20, 8)) -> list[bytes]:
    """A streamed answer calling tools: (id, name, the arguments in pieces) each."""
    return [*(frame for index, (call_id, name, pieces) in enumerate(called) for frame in (
                call_chunk(index, id=call_id, type="function", function={"name": name, "arguments": ""}),
                *(call_chunk(index, function={"arguments": piece}) for piece in pieces))),
            b"data: " + chunk(finish="tool_calls"),
            b"data: " + chunk(choices=False, usage={"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                                    "total_tokens": sum(usage)}),
            b"data: [DONE]"]


def sent(mock: MockProvider, i: int = -1) -> dict[str, Any]:
    return dict(orjson.loads(mock.received[i].body))


async def balance(r: RunningRouter) -> float:
    async with r.client(headers=ADMIN) as c:
        return float((await c.get("/admin/v1/credits", params={"user": "ada"})).json()["balance_usd"])


# --- tests -----------------------------------------------------------------------------------------------
async def test_an_mcp_tool_runs_and_its_result_goes_back_to_the_model(
        setup: Setup, calc: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    a = setup.a
    a.enqueue(json_reply(calls(("call_1", "add", '{"a": 2, "b": 3}'))), json_reply(answer("2 + 3 = 5.")))
    made = await setup.client.responses.create(
        model=MODEL, input="What is 2 + 3?",
        tools=[mcp_tool(calc.url, headers={"Authorization": f"Bearer {SECRET}"}, allowed_tools=["add", "jam"])])

    assert made.status == "completed" and made.output_text == "2 + 3 = 5."
    listing, call, message = made.output
    assert listing.type == "mcp_list_tools" and listing.server_label == "calc" and listing.error is None
    assert [t.name for t in listing.tools] == ["add", "jam"]  # (quota is not allowed)
    assert listing.tools[0].description == "Add two integers."
    assert listing.tools[0].input_schema["properties"]["a"]["type"] == "integer"  # type: ignore[index]
    assert call.type == "mcp_call" and call.id.startswith("mcp_")
    assert (call.server_label, call.name, orjson.loads(call.arguments), call.output, call.error, call.status) == (
        "calc", "add", {"a": 2, "b": 3}, "5", None, "completed")
    assert message.type == "message"
    assert calc.calls == [("add", 2, 3)]  # the server ran it
    # the server had the headers given for it; the response repeats the tool without them
    assert all(h.get(b"authorization") == f"Bearer {SECRET}".encode() for h in calc.headers)
    assert made.tools[0].type == "mcp" and made.tools[0].headers is None  # type: ignore[union-attr]

    # round 1 offered the allowed tools as functions; round 2 carried the call and its result
    first, second = a.received
    offered = {t["function"]["name"]: t["function"] for t in orjson.loads(first.body)["tools"]}
    assert sorted(offered) == ["add", "jam"]
    assert offered["add"]["description"] == "Add two integers."
    assert offered["add"]["parameters"]["required"] == ["a", "b"]
    assert orjson.loads(second.body)["messages"] == [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "5"}]

    # usage: both rounds, in the response, the record, the ledger and the bill
    assert made.usage is not None and (made.usage.input_tokens, made.usage.output_tokens) == (50, 12)
    cost_nano = 50 * 1000 + 12 * 2000
    await until(lambda: any(rec.path == "/v1/responses" for rec in setup.records))
    [rec] = [rec for rec in setup.records if rec.path == "/v1/responses"]
    assert rec.path == "/v1/responses" and rec.status == 200 and rec.provider == "a"
    assert rec.usage is not None and (rec.usage.input_tokens, rec.usage.output_tokens, rec.usage.requests) == (
        50, 12, 2)
    assert rec.cost == pytest.approx(cost_nano / 1e9) and rec.charged == cost_nano
    [row] = [row for row in await until_rows(setup.db, 1) if row["request_id"] == rec.request_id]
    assert (row["input_tokens"], row["output_tokens"], row["cost_nano"], row["charged_nano"]) == (
        50, 12, cost_nano, cost_nano)
    assert await balance(setup.r) == pytest.approx(1.0 - cost_nano / 1e9)

    # kept without the headers; never in a log
    got = await setup.client.responses.retrieve(made.id)
    assert [item.type for item in got.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert SECRET not in repr(got) and SECRET not in repr(made)
    assert SECRET not in caplog.text


async def test_a_streamed_response_across_rounds(setup: Setup, calc: Served) -> None:
    a = setup.a
    a.enqueue(sse_reply(streamed_call(("call_7", "add", ['{"a": 40, ', '"b": 2}']))),
              sse_reply(stream_events(["The sum", " is 42."])))
    kinds: list[str] = []
    events: list[Any] = []
    async with setup.client.responses.stream(
            model=MODEL, input="40 + 2?",
            tools=[mcp_tool(calc.url, authorization=SECRET), WEATHER]) as stream:
        async for event in stream:
            events.append(event)
            kinds.append(event.type)
        final = await stream.get_final_response()

    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added", "response.mcp_call.in_progress", "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done", "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    ids = {e.response.id for e in events if hasattr(e, "response")}
    assert len(ids) == 1 and final.id in ids
    assert [e.output_index for e in events if e.type == "response.output_item.added"] == [0, 1, 2]
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[1].type == "mcp_call" and done[1].output == "42" and done[1].arguments == '{"a": 40, "b": 2}'
    assert [item.type for item in final.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert final.output_text == "The sum is 42." and calc.calls == [("add", 40, 2)]
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (27, 10)
    assert all(h.get(b"authorization") == f"Bearer {SECRET}".encode() for h in calc.headers)
    assert SECRET not in repr(final) and SECRET not in repr(events)

    second = sent(a)
    assert second["stream"] is True and [t["function"]["name"] for t in second["tools"]] == [
        "weather", "add", "jam", "quota"]
    assert second["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "add", "arguments": '{"a": 40, "b": 2}'}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": "42"}]
    cost_nano = 27 * 1000 + 10 * 2000
    await until(lambda: any(rec.path == "/v1/responses" for rec in setup.records))
    [rec] = [rec for rec in setup.records if rec.path == "/v1/responses"]
    assert rec.usage is not None and (rec.usage.input_tokens, rec.usage.output_tokens) == (27, 10)
    assert rec.charged == cost_nano
    rows = await until_rows(setup.db, 1)
    assert (rows[-1]["input_tokens"], rows[-1]["output_tokens"], rows[-1]["charged_nano"]) == (27, 10, cost_nano)
    kept = await setup.client.responses.retrieve(final.id)  # kept whole, without the token
    assert [item.type for item in kept.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert kept.usage is not None and kept.usage.total_tokens == 37 and SECRET not in repr(kept)


async def test_failures_become_items_the_model_reads(setup: Setup, calc: Served) -> None:
    """A server that is down: its listing has the error and its tools are not offered; a tool that fails
    and one the server answers with a protocol error: their calls are `failed`, the model reads why."""
    a = setup.a
    down = f"http://127.0.0.1:{free_port()}/mcp"
    a.enqueue(sse_reply(streamed_call(("call_1", "jam", ['{"speed": 3}']))),
              sse_reply(streamed_call(("call_2", "quota", ["{}"]), ("call_3", "add", ["not json"]))),
              sse_reply(stream_events(["Nothing", " worked."])))
    async with setup.client.responses.stream(model=MODEL, input="Go.", store=False,
                                             tools=[mcp_tool(down, "gone"), mcp_tool(calc.url)]) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert kinds.count("response.mcp_list_tools.failed") == 1 and kinds.count("response.mcp_call.failed") == 3
    assert kinds[-1] == "response.completed"
    gone, listed, jam, quota, bad, message = final.output
    assert gone.type == "mcp_list_tools" and gone.tools == [] and gone.error is not None
    assert gone.error.startswith("Error retrieving tool list from MCP server 'gone': could not reach the MCP server")
    assert listed.error is None and len(listed.tools) == 3
    assert (jam.status, jam.output, jam.error.type) == ("failed", None, "mcp_tool_execution_error")  # type: ignore
    assert jam.error.content == [{"type": "text", "text": "Error executing tool jam: the gears jammed"}]  # type: ignore
    assert (quota.status, quota.error.type, quota.error.code) == (  # type: ignore[union-attr]
        "failed", "mcp_protocol_error", -32001)
    assert (bad.status, bad.error.code) == ("failed", -32602)  # type: ignore[union-attr]
    assert message.type == "message" and final.output_text == "Nothing worked."
    assert calc.calls == [("jam", 3)]
    # only the server reached was offered; the model read each failure
    assert [t["function"]["name"] for t in sent(a, 0)["tools"]] == ["add", "jam", "quota"]
    assert sent(a, 1)["messages"][-1] == {"role": "tool", "tool_call_id": "call_1",
                                          "content": "Error: Error executing tool jam: the gears jammed"}
    assert [m["content"] for m in sent(a, 2)["messages"][-2:]] == [
        "Error: quota exhausted", "Error: the arguments are not a JSON object"]
    assert sent(a, 2)["stream"] is True and sent(a, 1)["stream"] is True


async def test_a_clients_function_call_ends_the_response(setup: Setup, calc: Served) -> None:
    """The model calls an MCP tool and the client's own function: the MCP call runs, the response ends
    with the function call; sent back with its output, the MCP call and its result are in the
    conversation the provider gets."""
    a = setup.a
    a.enqueue(json_reply(calls(("call_1", "add", '{"a": 1, "b": 1}'), ("call_2", "weather", '{"city": "Oslo"}'))))
    tools: Any = [mcp_tool(calc.url), WEATHER]
    made = await setup.client.responses.create(model=MODEL, input="1 + 1, and the weather?", tools=tools)
    assert [item.type for item in made.output] == ["mcp_list_tools", "mcp_call", "function_call"]
    assert made.output[1].output == "2" and len(a.received) == 1  # type: ignore[union-attr]
    a.enqueue(json_reply(answer("2, and sunny.")))
    final = await setup.client.responses.create(
        model=MODEL, previous_response_id=made.id, tools=tools,
        input=[{"type": "function_call_output", "call_id": "call_2", "output": "sunny"}])
    assert final.output_text == "2, and sunny."
    messages = sent(a)["messages"]
    assert messages[1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": made.output[1].id, "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": made.output[1].id, "content": "2"},
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"}]


async def test_the_rounds_and_calls_are_bounded(setup: Setup, calc: Served) -> None:
    a = setup.a
    a.default = json_reply(calls(("call_x", "add", '{"a": 1, "b": 2}')))
    made = await setup.client.responses.create(model=MODEL, input="Add forever.", tools=[mcp_tool(calc.url)])
    assert len(a.received) == MAX_ROUNDS
    assert [sent(a, i).get("tool_choice") for i in range(MAX_ROUNDS)] == [None] * (MAX_ROUNDS - 1) + ["none"]
    done = [item for item in made.output if item.type == "mcp_call"]
    assert [item.status for item in done] == ["completed"] * (MAX_ROUNDS - 1) + ["incomplete"]
    assert len(calc.calls) == MAX_ROUNDS - 1 and made.status == "completed"

    a.received.clear()
    calc.calls.clear()
    a.default = None
    a.enqueue(json_reply(calls(("c1", "add", '{"a": 1, "b": 1}'), ("c2", "add", '{"a": 2, "b": 2}'))),
              json_reply(answer("Done.")))
    made = await setup.client.responses.create(model=MODEL, input="Two sums.", tools=[mcp_tool(calc.url)],
                                               max_tool_calls=1, tool_choice="required")
    assert [item.status for item in made.output if item.type == "mcp_call"] == ["completed", "incomplete"]
    assert calc.calls == [("add", 1, 1)] and made.output_text == "Done."
    assert sent(a, 0)["tool_choice"] == "required" and sent(a, 1)["tool_choice"] == "none"
    assert sent(a, 1)["messages"][-1]["content"].startswith("Error: not run: the response's limit of max_tool_calls")


async def test_a_server_too_slow_is_given_up(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the connection and never answers: its listing fails within the bound; a
    call that takes too long: `failed` with a 504 http_error. The response goes on, and ends in time."""
    # (long enough for a server that answers to list its tools on a loaded machine)
    monkeypatch.setattr(responses_mcp, "CALL_TIMEOUT", 2.0)
    server = MCPServer("slow")

    @server.tool(description="Wait a while.")
    async def wait(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "waited"

    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # (read nothing, answer nothing)

    mute = await asyncio.start_server(silent, sock=listening_socket())
    mute_port = mute.sockets[0].getsockname()[1]
    a = setup.a
    a.enqueue(json_reply(calls(("call_1", "wait", '{"seconds": 8}'))), json_reply(answer("Too slow.")))
    try:
        async with serving(server.streamable_http_app()) as url:
            started = time.monotonic()
            made = await setup.client.responses.create(
                model=MODEL, input="Wait.", store=False,
                tools=[mcp_tool(f"http://127.0.0.1:{mute_port}/mcp", "mute"), mcp_tool(url + "/mcp", "slow")])
            took = time.monotonic() - started
    finally:
        for writer in held:
            writer.close()
        mute.close()
    muted, listed, call, message = made.output
    assert muted.error is not None and "did not answer in time" in muted.error and listed.error is None
    assert (call.status, call.error.type, call.error.code) == ("failed", "http_error", 504)  # type: ignore
    assert message.type == "message" and made.output_text == "Too slow."
    assert sent(a)["messages"][-1]["content"] == "Error: the MCP server did not answer in time"
    assert took < 7  # (the listing and the call each given up at 2 s, not at the tool's 8)


async def test_what_may_not_be_reached_is_refused(mocks: Mocks, router: RouterFactory, calc: Served,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    a = await mocks.start("a")
    closed = await router.start(config(a))
    strict = await router.start(config(a, responses={"mcp_allowed_hosts": ["http://127.0.0.1", "http://localhost",
                                                                           "mcp.example.com"]}))
    port = calc.url.split(":")[2].split("/")[0]

    async def refused(r: RunningRouter, tool: dict[str, Any], *words: str) -> None:
        async with r.client() as http:
            resp = await http.post("/v1/responses", json={"model": MODEL, "input": "hi", "tools": [tool]})
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error["param"] == "tools.0" and all(w in error["message"] for w in words), error["message"]
        assert error["message"].startswith("tools.0")

    await refused(closed, mcp_tool(calc.url), "responses.mcp_allowed_hosts")
    await refused(strict, mcp_tool("https://elsewhere.example.org/mcp"), "'elsewhere.example.org'",
                  "responses.mcp_allowed_hosts")
    await refused(strict, mcp_tool("http://mcp.example.com/mcp"), "https", "http://mcp.example.com")
    await refused(strict, mcp_tool(calc.url), "127.0.0.1", "inputs.allow_private")  # an internal address
    await refused(strict, mcp_tool(f"http://localhost:{port}/mcp"), "localhost", "inputs.allow_private")  # resolved
    await refused(strict, mcp_tool(calc.url, require_approval="always"), "require_approval", "'never'")
    await refused(strict, {**mcp_tool(calc.url), "require_approval": None}, "require_approval", "omitted")
    await refused(strict, mcp_tool(calc.url, require_approval={"never": {"tool_names": ["add"]}}),
                  "require_approval")
    await refused(strict, mcp_tool("https://mcp.example.com/mcp", headers={"x": 1}), "headers")
    await refused(strict, mcp_tool("https://mcp.example.com/mcp", headers={"Host": "internal"}), "'Host'")
    assert calc.headers == [] and a.received == []  # nothing reached the MCP server, nor the provider

    monkeypatch.setitem(sys.modules, "mcp", None)  # a router without the `mcp` extra
    allowing = await router.start(config(a, responses={"mcp_allowed_hosts": ["http://127.0.0.1"]},
                                         inputs={"allow_private": True}))
    await refused(allowing, mcp_tool(calc.url), "pip install 'hubroute[mcp]'")
