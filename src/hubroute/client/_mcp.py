"""`MCPClient`: huggingface_hub's MCP client, over hubroute's `AsyncInferenceClient`.

It connects to MCP servers (a local `stdio` command, or a remote `sse` / streamable `http` service),
lists their tools and offers them to the model in a streamed chat completion; the tool calls the model
streams (their arguments arrive in pieces across the deltas) are run on the server that declared the
tool, and each result becomes a `tool` message, appended to the conversation and yielded.

    async with MCPClient(model="Qwen/Qwen2.5-72B-Instruct", provider="nebius") as client:
        await client.add_mcp_server(type="sse", url="https://.../gradio_api/mcp/sse")
        async for item in client.process_single_turn_with_tools(messages):
            ...  # ChatCompletionStreamOutput chunks, then ChatCompletionInputMessage tool results

The MCP protocol is the official SDK's (`pip install 'hubroute[mcp]'`), imported when a server is
added: importing this module (or `hubroute`) does not load it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, Unpack, overload

from hubroute import __version__
from hubroute.client._async import AsyncInferenceClient
from hubroute.client._outputs import ChatCompletionStreamOutput
from hubroute.client._records import named
from hubroute.mcp_tools import format_result

if TYPE_CHECKING:
    from mcp import ClientSession

__all__ = ["ChatCompletionInputMessage", "ChatCompletionInputTool", "ChatCompletionStreamOutput", "MCPClient"]

logger = logging.getLogger(__name__)

#: a message of a chat conversation, as huggingface_hub names it: the tool results are these
ChatCompletionInputMessage = named("ChatCompletionInputMessage")
#: a tool offered to the model (`{"type": "function", "function": {name, description, parameters}}`)
ChatCompletionInputTool = named("ChatCompletionInputTool")

ServerType = Literal["stdio", "sse", "http"]


class StdioServerParameters_T(TypedDict):
    command: str
    args: NotRequired[list[str]]
    env: NotRequired[dict[str, str]]
    cwd: NotRequired[str | Path | None]
    allowed_tools: NotRequired[list[str]]


class SSEServerParameters_T(TypedDict):
    url: str
    headers: NotRequired[dict[str, Any]]
    timeout: NotRequired[float]
    sse_read_timeout: NotRequired[float]
    allowed_tools: NotRequired[list[str]]


class StreamableHTTPParameters_T(TypedDict):
    url: str
    headers: NotRequired[dict[str, Any]]
    timeout: NotRequired[timedelta | float]
    sse_read_timeout: NotRequired[timedelta | float]
    terminate_on_close: NotRequired[bool]
    allowed_tools: NotRequired[list[str]]


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _tool_name(tool: Any) -> str | None:
    """The function name of a tool given as a dict / Record or as an object (huggingface_hub's)."""
    function = tool.get("function") if isinstance(tool, Mapping) else getattr(tool, "function", None)
    name = function.get("name") if isinstance(function, Mapping) else getattr(function, "name", None)
    return name if isinstance(name, str) else None


def _import_mcp() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("MCPClient needs the MCP SDK: pip install 'hubroute[mcp]'") from exc


class MCPClient:
    """A client for one or more MCP servers that runs chat completions with their tools.

    Args: as huggingface_hub's `MCPClient`: `model` (a Hub model id), `provider` (a provider, a
    policy, or "auto"), `base_url` (a hubroute router; without it the client is direct) and
    `api_key` (an HF token, or the provider's own key). Experimental, like huggingface_hub's.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        provider: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
    ) -> None:
        if model is None and base_url is None:
            raise ValueError("At least one of `model` or `base_url` should be set in `MCPClient`.")
        #: tool name -> the session of the server that declared it
        self.sessions: dict[str, ClientSession] = {}
        self.exit_stack = AsyncExitStack()
        self.available_tools: list[Any] = []
        self.payload_model = model
        self.client = AsyncInferenceClient(model=model, provider=provider, api_key=api_key, base_url=base_url)

    async def __aenter__(self) -> MCPClient:
        await self.client.__aenter__()
        await self.exit_stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cleanup()

    async def cleanup(self) -> None:
        """Close the inference client and every MCP session and transport."""
        try:
            await self.client.close()
        finally:
            await self.exit_stack.aclose()

    @overload
    async def add_mcp_server(self, type: Literal["stdio"], **params: Unpack[StdioServerParameters_T]) -> None: ...

    @overload
    async def add_mcp_server(self, type: Literal["sse"], **params: Unpack[SSEServerParameters_T]) -> None: ...

    @overload
    async def add_mcp_server(self, type: Literal["http"], **params: Unpack[StreamableHTTPParameters_T]) -> None: ...

    async def add_mcp_server(self, type: ServerType, **params: Any) -> None:
        """Connect to an MCP server and offer its tools to the model.

        `type`: "stdio" (`command`, `args`, `env`, `cwd`: a local process), "sse" (`url`, `headers`,
        `timeout`, `sse_read_timeout` in seconds) or "http" (streamable HTTP: `url`, `headers`,
        `timeout`, `sse_read_timeout` as timedelta or seconds, `terminate_on_close`). Any type takes
        `allowed_tools`: the names of the server's tools to offer (default: all). A tool whose name
        another server already declared is skipped.
        """
        _import_mcp()
        from mcp import ClientSession
        from mcp import types as mcp_types

        allowed_tools: list[str] | None = params.pop("allowed_tools", None)
        streams: Any
        if type == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            logger.info("Connecting to stdio MCP server: %s %s", params["command"], params.get("args", []))
            server = StdioServerParameters(**{k: v for k, v in params.items()
                                              if k in ("command", "args", "env", "cwd") and v is not None})
            streams = await self.exit_stack.enter_async_context(stdio_client(server))
        elif type == "sse":
            from mcp.client.sse import sse_client

            logger.info("Connecting to SSE MCP server at %s", params["url"])
            sse_kw = {k: v for k, v in params.items() if k in ("headers", "timeout", "sse_read_timeout")
                      and v is not None}
            streams = await self.exit_stack.enter_async_context(sse_client(params["url"], **sse_kw))
        elif type == "http":
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            logger.info("Connecting to streamable HTTP MCP server at %s", params["url"])
            http_client = None
            if any(params.get(k) is not None for k in ("headers", "timeout", "sse_read_timeout")):
                # the SDK's defaults (30 s, and 300 s to read a stream), with what was given
                timeout = httpx2.Timeout(_seconds(params.get("timeout") or 30.0),
                                         read=_seconds(params.get("sse_read_timeout") or 300.0))
                http_client = await self.exit_stack.enter_async_context(
                    httpx2.AsyncClient(headers=params.get("headers"), timeout=timeout))
            terminate = params.get("terminate_on_close")
            streams = await self.exit_stack.enter_async_context(streamable_http_client(
                params["url"], http_client=http_client, terminate_on_close=True if terminate is None else terminate))
        else:
            raise ValueError(f"Unsupported server type: {type}")
        read, write = streams[0], streams[1]

        session = await self.exit_stack.enter_async_context(ClientSession(
            read_stream=read, write_stream=write,
            client_info=mcp_types.Implementation(name="hubroute.MCPClient", version=__version__)))
        await session.initialize()
        listing = await session.list_tools()
        tools = list(listing.tools)
        while listing.next_cursor:  # servers may page tools/list
            listing = await session.list_tools(params=mcp_types.PaginatedRequestParams(cursor=listing.next_cursor))
            tools.extend(listing.tools)
        logger.debug("Connected to a server with tools: %s", [tool.name for tool in tools])

        for tool in tools:
            if allowed_tools is not None and tool.name not in allowed_tools:
                continue
            if tool.name in self.sessions:
                logger.warning("Tool '%s' already defined by another server. Skipping.", tool.name)
                continue
            self.sessions[tool.name] = session
            self.available_tools.append(ChatCompletionInputTool({
                "type": "function",
                "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
            }))

    async def process_single_turn_with_tools(
        self,
        messages: list[Any],
        exit_loop_tools: list[Any] | None = None,
        exit_if_first_chunk_no_tool: bool = False,
    ) -> AsyncIterator[Any]:
        """One turn: stream the model's answer to `messages` with the servers' tools, then run the
        tools it called. Yields the stream's `ChatCompletionStreamOutput` chunks, then one
        `ChatCompletionInputMessage` (role "tool": `name`, `tool_call_id`, `content`) per tool call.
        `messages` gets the assistant's message and the tool messages appended, ready for the next turn.

        `exit_loop_tools`: tools offered too, not run: calling one yields its (empty) tool message
        and ends the turn. `exit_if_first_chunk_no_tool`: end the turn, yielding nothing, when the
        first chunks of the answer carry no tool call.
        """
        tools = [*(exit_loop_tools or []), *self.available_tools] if exit_loop_tools is not None \
            else self.available_tools
        stream = await self.client.chat_completion(messages, model=self.payload_model, tools=tools,
                                                   tool_choice="auto", stream=True)
        message: dict[str, Any] = {"role": "unknown", "content": ""}
        #: index -> the call so far: id, function name, arguments (the JSON text, in pieces)
        calls: dict[int, dict[str, Any]] = {}
        count = 0
        try:
            async for chunk in stream:
                count += 1
                delta = chunk.choices[0].delta if chunk.choices else None
                if not delta:
                    continue
                if delta.role:
                    message["role"] = delta.role
                if delta.content:
                    message["content"] += delta.content
                for position, piece in enumerate(delta.tool_calls or []):
                    index = piece.get("index")
                    index = position if index is None else index
                    function = piece.get("function") or {}
                    call = calls.setdefault(index, {"id": None, "name": None, "arguments": ""})
                    if piece.get("id") and not call["id"]:
                        call["id"] = piece["id"]
                    if function.get("name") and not call["name"]:
                        call["name"] = function["name"]
                    if function.get("arguments"):
                        call["arguments"] += function["arguments"]
                if exit_if_first_chunk_no_tool and count <= 2 and not calls:
                    return
                yield chunk
        finally:
            await stream.aclose()

        if message["content"] or calls:
            if message["role"] == "unknown":
                message["role"] = "assistant"
            if calls:
                message["tool_calls"] = [
                    {"id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": call["arguments"] or "{}"}}
                    for call in calls.values()]
            messages.append(message)

        exits = {_tool_name(tool) for tool in exit_loop_tools or []}
        for call in calls.values():
            name = call["name"]
            if name is None:
                reply = ChatCompletionInputMessage({"role": "tool", "tool_call_id": call["id"],
                                                    "content": "Invalid tool call with no function name."})
                messages.append(reply)
                yield reply
                continue
            tool_message: dict[str, Any] = {"role": "tool", "tool_call_id": call["id"], "content": "", "name": name}
            try:
                arguments = json.loads(call["arguments"] or "{}")
            except json.JSONDecodeError as err:
                tool_message["content"] = f"Invalid JSON generated by the model: {err}"
                reply = ChatCompletionInputMessage(tool_message)
                messages.append(reply)
                yield reply
                continue
            if name in exits:
                reply = ChatCompletionInputMessage(tool_message)
                messages.append(reply)
                yield reply
                return
            session = self.sessions.get(name)
            if session is None:
                tool_message["content"] = f"Error: No session found for tool: {name}"
            else:
                try:
                    result = await session.call_tool(name, arguments)
                    tool_message["content"] = format_result(result)
                except Exception as err:  # the model reads what went wrong, as with huggingface_hub
                    tool_message["content"] = f"Error: MCP tool call failed with error message: {err}"
            reply = ChatCompletionInputMessage(tool_message)
            messages.append(reply)
            yield reply
