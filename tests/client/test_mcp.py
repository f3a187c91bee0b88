"""`hubroute.MCPClient` against real MCP servers and a mock LLM provider.

The MCP side is the official SDK's own server (`mcp.server.mcpserver.MCPServer`, FastMCP in mcp 1.x)
with real tools, served on 127.0.0.1 by uvicorn over SSE and streamable HTTP, and as a stdio
subprocess. The LLM side is a mock of Together AI (tests/mocks.py) streaming, in its OpenAI-compatible
SSE format, a tool call whose arguments arrive in pieces, then (next turn) the final answer; the client
reaches it direct (the engine in-process) and routed (through a real router).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from mcp.server.mcpserver import Image, MCPServer
from starlette.types import ASGIApp

from hubroute import ChatCompletionInputMessage, ChatCompletionStreamOutput, MCPClient
from tests.client.conftest import CHAT_ID, CHAT_MODEL, config
from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, chunk, sse_reply, stream_events
from tests.ports import free_port

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8"
                    "cfc0f01f0005000201ff3f6c8b0000000049454e44ae426082")
PROMPT = [{"role": "user", "content": "Generate a picture of a cat on the moon"}]


# --- the MCP server ----------------------------------------------------------------------------------
def flux_server(calls: list[dict[str, Any]]) -> MCPServer:
    """An MCP server with an image-generation tool (as the seed's Flux Space has) and a weather
    tool; every call is recorded in `calls`."""
    server = MCPServer("flux-test")

    @server.tool(description="Generate an image from a text prompt with FLUX.1-schnell.")
    def flux1_schnell_infer(prompt: str, seed: int = 0, width: int = 1024, height: int = 1024) -> str:
        calls.append({"tool": "flux1_schnell_infer", "prompt": prompt, "seed": seed, "width": width,
                      "height": height})
        return f"Generated {width}x{height} image of '{prompt}' at https://example.test/image.webp"

    @server.tool(description="Get the current temperature for a city.")
    def get_weather(city: str) -> str:
        calls.append({"tool": "get_weather", "city": city})
        return f"It is 21 degrees in {city}"

    @server.tool(description="Draw a tiny picture.")
    def draw(subject: str) -> Image:
        calls.append({"tool": "draw", "subject": subject})
        return Image(data=PNG, format="png")

    return server


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """`app` on a real socket (uvicorn, in the test's loop): its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="none",
                                           lifespan="on", timeout_graceful_shutdown=2))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def mcp_url(transport: str, calls: list[dict[str, Any]], sse_path: str = "/sse") -> AsyncIterator[str]:
    """A flux_server served over `transport` ("sse" or "http"): the URL MCPClient connects to."""
    server = flux_server(calls)
    if transport == "sse":
        base = sse_path.rsplit("/", 1)[0]
        app = server.sse_app(sse_path=sse_path, message_path=f"{base}/messages/")
        async with serving(app) as url:
            yield url + sse_path
    else:
        async with serving(server.streamable_http_app()) as url:
            yield url + "/mcp"


# --- the LLM provider's stream -------------------------------------------------------------------------
def frame(delta: dict[str, Any], finish: str | None = None) -> bytes:
    """One chat.completion.chunk SSE frame, as OpenAI-compatible providers send it."""
    return b"data: " + orjson.dumps({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1700000000,
                                     "model": CHAT_ID, "choices": [{"index": 0, "delta": delta,
                                                                    "finish_reason": finish}]})


def tool_call_stream(calls: list[tuple[str, str, list[str]]], content: str | None = None) -> list[bytes]:
    """A streamed answer calling tools: per call (id, name, the arguments' JSON in pieces), a first
    delta with the id and name, then one delta per piece (index only), as OpenAI streams them."""
    frames = [frame({"role": "assistant", "content": content})]
    for index, (call_id, name, pieces) in enumerate(calls):
        frames.append(frame({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}))
        frames += [frame({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]
    frames.append(frame({}, finish="tool_calls"))
    frames.append(b"data: " + chunk(choices=False, usage={"prompt_tokens": 50, "completion_tokens": 20,
                                                          "total_tokens": 70}))
    frames.append(b"data: [DONE]")
    return frames


FLUX_CALL = ("call_flux_1", "flux1_schnell_infer", ['{"prompt": "a cat', ' on the moon", ', '"seed": 42}'])


async def turn(client: MCPClient, messages: list[Any], **kw: Any) -> tuple[str, list[Any]]:
    """One `process_single_turn_with_tools`: the streamed text and the tool messages."""
    text, tool_messages = "", []
    async for item in client.process_single_turn_with_tools(messages, **kw):
        if isinstance(item, ChatCompletionStreamOutput):
            text += item.choices[0].delta.content or "" if item.choices else ""
        else:
            assert isinstance(item, ChatCompletionInputMessage)
            tool_messages.append(item)
    return text, tool_messages


@pytest.fixture(params=["direct", "routed"])
async def llm(request: pytest.FixtureRequest, mocks: Mocks, router: RouterFactory,
              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[tuple[MockProvider, dict[str, Any]]]:
    """The mock provider (Together) and the MCPClient arguments that reach it in each mode."""
    hf, together = await mocks.start("hf"), await mocks.start("together")
    conf = config(hf, together)
    if request.param == "routed":
        running = await router.start(conf)
        monkeypatch.delenv("HUBROUTE_CONFIG", raising=False)
        yield together, {"model": CHAT_MODEL, "base_url": running.url}
    else:
        path = tmp_path / "hubroute.yaml"
        path.write_text(conf)
        monkeypatch.setenv("HUBROUTE_CONFIG", str(path))
        monkeypatch.delenv("HUBROUTE_BASE_URL", raising=False)
        yield together, {"model": CHAT_MODEL}


# --- tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["sse", "http"])
async def test_tool_call_runs_on_the_server_and_goes_back_to_the_model(
        transport: str, llm: tuple[MockProvider, dict[str, Any]]) -> None:
    together, kw = llm
    calls: list[dict[str, Any]] = []
    together.enqueue(sse_reply(tool_call_stream([FLUX_CALL])), sse_reply(stream_events(["A cat", " on the moon!"])))
    async with mcp_url(transport, calls) as url, MCPClient(**kw) as client:
        await client.add_mcp_server(type=transport, url=url)  # type: ignore[call-overload]
        assert sorted(t.function.name for t in client.available_tools) == \
                ["draw", "flux1_schnell_infer", "get_weather"]
        messages: list[Any] = list(PROMPT)
        chunks = [item async for item in client.process_single_turn_with_tools(messages)]
        # the second turn: the model reads the tool's result and answers
        text, tool_messages = await turn(client, messages)

    # turn 1: the stream's chunks, then the tool's result
    *streamed, result = chunks
    assert all(isinstance(c, ChatCompletionStreamOutput) for c in streamed) and len(streamed) >= 5
    assert isinstance(result, ChatCompletionInputMessage) and type(result).__name__ == "ChatCompletionInputMessage"
    assert result.role == "tool" and result.name == "flux1_schnell_infer" and result.tool_call_id == "call_flux_1"
    assert result.content == "Generated 1024x1024 image of 'a cat on the moon' at https://example.test/image.webp"
    # the tool really ran, on the MCP server, with the arguments streamed in pieces
    assert calls == [{"tool": "flux1_schnell_infer", "prompt": "a cat on the moon", "seed": 42, "width": 1024,
                      "height": 1024}]
    # the first request offered the server's tools
    first, second = together.received
    assert first.json["model"] == CHAT_ID and first.json["stream"] is True and first.json["tool_choice"] == "auto"
    offered = {t["function"]["name"]: t["function"] for t in first.json["tools"]}
    assert offered["flux1_schnell_infer"]["description"].startswith("Generate an image")
    assert offered["flux1_schnell_infer"]["parameters"]["properties"]["prompt"]["type"] == "string"
    assert offered["flux1_schnell_infer"]["parameters"]["required"] == ["prompt"]
    # the second carried the assistant's tool call and the tool's result
    assistant, tool = second.json["messages"][1:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"] == [{
        "id": "call_flux_1", "type": "function",
        "function": {"name": "flux1_schnell_infer", "arguments": '{"prompt": "a cat on the moon", "seed": 42}'}}]
    assert tool == {"role": "tool", "tool_call_id": "call_flux_1", "name": "flux1_schnell_infer",
                    "content": result.content}
    # turn 2: the final answer, streamed; no tool ran
    assert text == "A cat on the moon!" and tool_messages == []
    assert len(calls) == 1
    assert messages[-1] == {"role": "assistant", "content": "A cat on the moon!"}


async def test_stdio_server(llm: tuple[MockProvider, dict[str, Any]], tmp_path: Path) -> None:
    """A local MCP server run as a subprocess, spoken to over its stdin and stdout."""
    together, kw = llm
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "weather_server.py"
    script.write_text(textwrap.dedent("""
        import json, os
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("weather")

        @server.tool(description="Get the current temperature for a city.")
        def get_weather(city: str) -> str:
            with open(os.environ["CALLS_LOG"], "a") as f:
                f.write(json.dumps({"city": city}) + "\\n")
            return f"It is 21 degrees in {city}"

        server.run("stdio")
    """))
    together.enqueue(sse_reply(tool_call_stream([("call_w", "get_weather", ['{"city":', ' "Paris"}'])])),
                     sse_reply(stream_events(["21 degrees", " in Paris."])))
    async with MCPClient(**kw) as client:
        await client.add_mcp_server(type="stdio", command=sys.executable, args=[str(script)],
                                    env={"CALLS_LOG": str(log)}, cwd=str(tmp_path))
        messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
        _, results = await turn(client, messages)
        text, _ = await turn(client, messages)
    assert [r.content for r in results] == ["It is 21 degrees in Paris"]
    assert [json.loads(line) for line in log.read_text().splitlines()] == [{"city": "Paris"}]
    assert together.received[1].json["messages"][-1]["content"] == "It is 21 degrees in Paris"
    assert text == "21 degrees in Paris."


async def test_several_calls_errors_and_binary_results(llm: tuple[MockProvider, dict[str, Any]]) -> None:
    """Two calls in one answer run in order; a binary result is described; arguments that are no
    JSON and a tool no server declared come back to the model as errors, as huggingface_hub words them."""
    together, kw = llm
    calls: list[dict[str, Any]] = []
    together.enqueue(sse_reply(tool_call_stream([
        ("c1", "get_weather", ['{"city": "Oslo"}']),
        ("c2", "draw", ['{"subject": "a cat"}']),
        ("c3", "get_weather", ['{"city": ']),
        ("c4", "teleport", ['{}']),
    ], content="Let me check. ")))
    async with mcp_url("http", calls) as url, MCPClient(**kw) as client:
        await client.add_mcp_server(type="http", url=url)
        messages: list[Any] = list(PROMPT)
        text, results = await turn(client, messages)
    assert text == "Let me check. "
    assert [r.tool_call_id for r in results] == ["c1", "c2", "c3", "c4"]
    assert results[0].content == "It is 21 degrees in Oslo"
    assert results[1].content == (f"[Binary Content: Image image/png, {len(PNG)} bytes]\n"
                                  "The task is complete and the content accessible to the User")
    assert results[2].content.startswith("Invalid JSON generated by the model: ")
    assert results[3].content == "Error: No session found for tool: teleport"
    assert calls == [{"tool": "get_weather", "city": "Oslo"}, {"tool": "draw", "subject": "a cat"}]
    assistant = messages[1]
    assert assistant["content"] == "Let me check. " and len(assistant["tool_calls"]) == 4
    assert messages[2:] == results


async def test_allowed_tools_exit_loop_tools_and_early_exit(llm: tuple[MockProvider, dict[str, Any]]) -> None:
    together, kw = llm
    calls: list[dict[str, Any]] = []
    task_complete = {"type": "function", "function": {"name": "task_complete", "description": "Done.",
                                                      "parameters": {"type": "object", "properties": {}}}}
    together.enqueue(sse_reply(tool_call_stream([("c1", "task_complete", ["{}"])])),
                     sse_reply(stream_events(["Just", " text"])))
    async with mcp_url("sse", calls) as url, MCPClient(**kw) as client:
        await client.add_mcp_server(type="sse", url=url, allowed_tools=["get_weather"])
        assert [t.function.name for t in client.available_tools] == ["get_weather"]
        # an exit-loop tool: offered first, not run; its (empty) message ends the turn
        messages: list[Any] = list(PROMPT)
        _, results = await turn(client, messages, exit_loop_tools=[task_complete])
        assert [(r.name, r.content) for r in results] == [("task_complete", "")]
        offered = [t["function"]["name"] for t in together.received[0].json["tools"]]
        assert offered == ["task_complete", "get_weather"]
        # no tool call in the first chunks: nothing yielded, the conversation unchanged
        before = list(messages)
        items = [item async for item in client.process_single_turn_with_tools(messages,
                                                                               exit_if_first_chunk_no_tool=True)]
        assert items == [] and messages == before
    assert calls == []


def test_model_or_base_url_required() -> None:
    with pytest.raises(ValueError, match="At least one of `model` or `base_url`"):
        MCPClient(provider="nebius")


def test_import_stays_light() -> None:
    """`import hubroute` and the inference client never load the MCP SDK; MCPClient itself neither,
    until a server is added."""
    code = ("import sys, hubroute; assert 'hubroute.client' not in sys.modules; "
            "from hubroute import InferenceClient; assert 'mcp' not in sys.modules; "
            "from hubroute import MCPClient, ChatCompletionInputMessage, ChatCompletionStreamOutput; "
            "MCPClient(model='m'); assert not [m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')]")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
