"""Remote MCP tools in `POST /v1/responses`, run by the router, as OpenAI's and Hugging Face's routers
run them: it connects to each server the request names (streamable HTTP, the `mcp` SDK's, loaded
on first use: the `mcp` extra), lists its tools and offers them to the model as functions; when the
model calls one, the router runs the call and gives the model its result, round after round, until
the model answers without calling an MCP tool, calls a client's own function (the response then
ends with that call, for the client to run), or the rounds run out.

    mcp = McpTools.of(app, ctx, body)       # None without MCP tools; 400 for a server it may not reach
    try:
        listed = await mcp.open(tools)      # `mcp_list_tools` items; the servers' tools join `tools`
        mcp.start(chat, plan)               # the first round's request (with those tools)
        ...                                 # whole: `await mcp.answer(listed)`; streamed: the
                                            # shape calls `await mcp.follow(stream, write)`
    finally:
        await mcp.close()

What the request may name is `hubroute.mcp_tools`'s (`responses.mcp_allowed_hosts`, the `inputs:`
address rules, `require_approval: "never"`). The address rules hold on every connection too: the
SDK's HTTP client connects only to the addresses its host resolves to that pass them (a name that
resolves to an internal address gets 400 as an address in the URL does).

Bounds: at most `MAX_ROUNDS` chat requests a response; with `max_tool_calls`, at most that many
calls run. The last round allowed is asked for an answer (`tool_choice: "none"`); a call made
anyway past a bound is not run (its item `incomplete`). Connecting and listing a server's tools,
and each call, get `CALL_TIMEOUT` seconds, and all of them together the request's
`routing.deadline`. A server that cannot be reached, lists no tools or fails a call does not fail
the response: its `mcp_list_tools` item carries the `error` (its tools are not offered; the model
answers without them), or its `mcp_call` item does (`mcp_protocol_error`, `http_error`: 502 when
the server could not be reached, 504 when it did not answer in time, else its status; or
`mcp_tool_execution_error` when the tool reported a failure), and the model reads what went wrong
as the call's result.

Each server's connection is held by a task of its own (the SDK's task groups live there: a failure
of its transport cannot cancel the request's task), closed when the request ends. The `headers` a
request gives a server go to that server only: never logged, in an error, or echoed or stored with
the response (`mcp_tools.public_tools`).

Usage: each round is a provider call, metered as one; the request's record (and so its rate limits,
ledger row and bill) holds their sum, each round priced at its own provider's price. Its credit and
budget hold is sized for one round (the first request's worst case), and settled to the sum, which
may exceed it by what the further rounds cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from hubroute import __version__
from hubroute import mcp_tools as mcp
from hubroute.errors import InvalidRequest
from hubroute.routing import openai

if TYPE_CHECKING:
    from hubroute.inputs.fetch import AddressRules
    from hubroute.responses_api import ResponseStream, Tools
    from hubroute.routing.router import Plan
    from hubroute.routing.session import StreamSession
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord
    from hubroute.usage import Usage

log = logging.getLogger("hubroute.server")

#: chat requests a response may make (the last one asked for an answer: no more calls)
MAX_ROUNDS = 8
#: seconds for connecting to a server and listing its tools, and for each call
CALL_TIMEOUT = 30.0
#: seconds a server's connection gets to close
CLOSE_TIMEOUT = 5.0
#: pages of a server's tool list read at most
MAX_PAGES = 20


class McpTools:
    """The MCP servers of one request: connected, their tools listed and offered, their calls run."""

    def __init__(self, app: App, ctx: RequestRecord, body: dict[str, Any], servers: list[mcp.McpServer]) -> None:
        self.app = app
        self.ctx = ctx
        self.servers = [_Server(spec, app.transport.rules) for spec in servers]
        #: when all the MCP work of the request must be done (perf_counter)
        self.deadline = ctx.started + app.settings.routing.deadline
        self.max_calls: int | None = body.get("max_tool_calls")
        self.calls = 0
        #: chat requests made so far
        self.rounds = 1
        #: the round allowed last was asked for an answer: no call is run after it
        self.last = False
        self.tools: Tools | None = None
        self.chat: dict[str, Any] = {}
        self.plan: Plan | None = None

    @classmethod
    def of(cls, app: App, ctx: RequestRecord, body: dict[str, Any]) -> McpTools | None:
        """The request's MCP servers, checked (InvalidRequest for one it may not reach); None: it names none."""
        if not body.get("tools"):
            return None
        servers = mcp.servers_of(body, app.settings.responses.mcp_allowed_hosts, app.transport.rules)
        if not servers:
            return None
        try:
            import mcp as _sdk  # noqa: F401
        except ImportError:
            raise InvalidRequest(f"{servers[0].where}: MCP tools need the MCP SDK on the router: "
                                 "pip install 'hubroute[mcp]'", param=servers[0].where) from None
        return cls(app, ctx, body, servers)

    def _seconds(self) -> float:
        """Seconds the next MCP step may take (TimeoutError: the request's deadline has passed)."""
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError
        return min(CALL_TIMEOUT, left)

    async def open(self, tools: Tools) -> list[dict[str, Any]]:
        """Connect to each server and list its tools: the `mcp_list_tools` items; the tools offered join
        `tools` (a name another tool has already is prefixed by the server's label, `label__name`)."""
        self.tools = tools
        items: list[dict[str, Any]] = []
        for server in self.servers:
            spec = server.spec
            try:
                listed = await server.open(self._seconds())
            except Exception as exc:
                if server.refused is not None:
                    raise InvalidRequest(f"{spec.where}.server_url: {server.refused} (inputs.allow_private and "
                                         "inputs.allowed_hosts permit internal addresses)", param=spec.where) from None
                _, message = server.failure(exc)
                log.info("MCP server %r of request %s: no tools listed: %s", spec.label, self.ctx.request_id, message)
                items.append(mcp.listing_item(spec.label, [], f"Error retrieving tool list from MCP server "
                                                              f"'{spec.label}': {message}"))
                continue
            entries = []
            for tool in listed:
                if not spec.offers(tool):
                    continue
                name = tool.name if tool.name not in tools.names else f"{spec.label}__{tool.name}"
                if name in tools.names:
                    continue
                tools.names[name] = ("mcp", tool.name, spec.label)
                function: dict[str, Any] = {"name": name, "parameters": tool.input_schema or {"type": "object"}}
                if tool.description:
                    function["description"] = tool.description
                tools.chat.append({"type": "function", "function": function})
                entries.append(mcp.tool_entry(tool))
            server.offered = True
            items.append(mcp.listing_item(spec.label, entries))
        return items

    # --- rounds ---------------------------------------------------------------------------------------
    def start(self, chat: dict[str, Any], plan: Plan) -> None:
        """The first round's chat request (the one later rounds extend), and the plan of every round."""
        self.chat = chat
        self.plan = plan

    async def answer(self, listed: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, str | None, Usage | None]:
        """A whole response's rounds: its output items, status, reason if incomplete, and usage (summed)."""
        from hubroute.replayed import signature
        from hubroute.responses_api import from_chat
        from hubroute.usage import total

        assert self.tools is not None and self.plan is not None
        chat, plan = self.chat, self.plan
        output = list(listed)
        spent: list[tuple[Usage | None, Any]] = []
        while True:
            answer = await openai.send(self.app.router, plan, openai.CHAT_API, chat)
            if not spent:
                self.ctx.served(answer.target, answer.ttfb, answer.errors)
            spent.append((answer.usage, answer.target.pricing))
            self.ctx.used_in_rounds(spent)
            data = answer.data if isinstance(answer.data, dict) else orjson.loads(answer.body)
            items, status, reason = from_chat(data, self.tools, signature(answer.target.name,
                                                                          answer.target.provider_model))
            output += items
            for item in items:
                if item["type"] == "mcp_call":
                    await self._call(item)
            following = self._next(items)
            if following is None:
                return output, status, reason, total(usage for usage, _ in spent)
            chat = following

    async def follow(self, stream: ResponseStream, write: Callable[[bytes], Awaitable[None]]) -> StreamSession | None:
        """After a streamed round: its MCP calls run (their events written as they end) and the next
        round's stream, or None when the response ends with this round."""
        if not stream.calling_mcp():
            return None
        assert self.plan is not None
        await write(stream.end_round())
        items = stream.round_items()
        for index in list(stream.pending):
            await self._call(stream.output[index])
            await write(stream.called(index))
        following = self._next(items)
        stream.next_round()
        if following is None:
            return None
        return await openai.stream(self.app.router, self.plan, openai.CHAT_API, following)

    def _next(self, items: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The chat request of the round after one whose output was `items` (its MCP calls run), or
        None when the response ends with it."""
        assert self.tools is not None
        calls = [item for item in items if item["type"] == "mcp_call"]
        mine = [self.tools.mcp_calls.pop(item["id"]) for item in calls]
        if not calls or self.last or any(item["type"] in ("function_call", "custom_tool_call") for item in items):
            return None
        text = "".join(part.get("text", "") for item in items if item["type"] == "message"
                       for part in item["content"] if part.get("type") == "output_text")
        chat = self.chat
        chat["messages"] = [*chat["messages"], {
            "role": "assistant", "content": text or None,
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": function, "arguments": item["arguments"] or "{}"}}
                           for item, (call_id, function) in zip(calls, mine, strict=True)]},
            *({"role": "tool", "tool_call_id": call_id, "content": mcp.result_text(item)}
              for item, (call_id, _) in zip(calls, mine, strict=True))]
        self.rounds += 1
        if self.rounds >= MAX_ROUNDS or (self.max_calls is not None and self.calls >= self.max_calls):
            chat["tool_choice"] = "none"  # the last round: an answer, with what the calls gave
            self.last = True
        elif chat.get("tool_choice") not in (None, "auto", "none"):
            chat["tool_choice"] = "auto"  # a tool was required, and called
        return chat

    async def _call(self, item: dict[str, Any]) -> None:
        """Run the call of an `mcp_call` item: its `status`, `output` and `error` set."""
        if self.last or (self.max_calls is not None and self.calls >= self.max_calls):
            item["status"] = "incomplete"  # past a bound: not run
            limit = (f"max_tool_calls ({self.max_calls})" if self.max_calls is not None and self.calls >= self.max_calls
                     else f"{MAX_ROUNDS} rounds")
            item["error"] = mcp.protocol_error(-32000, f"not run: the response's limit of {limit} was reached")
            return
        server = next((s for s in self.servers if s.spec.label == item["server_label"] and s.offered), None)
        try:
            arguments = orjson.loads(item["arguments"] or "{}")
        except orjson.JSONDecodeError:
            arguments = None
        if server is None or not isinstance(arguments, dict):
            item["status"] = "failed"
            item["error"] = mcp.protocol_error(-32602, "the arguments are not a JSON object" if server is not None
                                               else f"no MCP server '{item['server_label']}' is connected")
            return
        self.calls += 1
        try:
            result = await server.call(item["name"], arguments, self._seconds())
        except Exception as exc:
            item["status"] = "failed"
            item["error"], _ = server.failure(exc)
            return
        if result.is_error:
            item["status"] = "failed"
            item["error"] = mcp.execution_error([part.model_dump(mode="json", by_alias=True, exclude_none=True)
                                                 for part in result.content])
        else:
            item["status"] = "completed"
            item["output"] = mcp.format_result(result)

    async def close(self) -> None:
        """Close every server's connection (each within CLOSE_TIMEOUT seconds)."""
        await asyncio.gather(*(server.close() for server in self.servers))


def _failure(exc: BaseException) -> tuple[dict[str, Any], str]:
    """What went wrong with a server, as an `mcp_call`'s error and as a sentence."""
    import httpcore2
    import httpx2
    from mcp import MCPError

    leaf = _leaf(exc)
    if isinstance(leaf, TimeoutError | httpx2.TimeoutException | httpcore2.TimeoutException):
        message = "the MCP server did not answer in time"
        return mcp.http_error(504, message), message
    if isinstance(leaf, MCPError):
        return mcp.protocol_error(leaf.code, leaf.message), f"{leaf.message} (MCP error {leaf.code})"
    if isinstance(leaf, httpx2.HTTPStatusError):
        status = leaf.response.status_code
        message = f"the MCP server answered HTTP status {status}"
        return mcp.http_error(status, message), message
    if isinstance(leaf, httpx2.TransportError | httpcore2.NetworkError | httpcore2.ProtocolError | OSError):
        message = f"could not reach the MCP server ({type(leaf).__name__}: {leaf})"
        return mcp.http_error(502, message), message
    message = f"{type(leaf).__name__}: {leaf}"
    return mcp.protocol_error(-32603, message), message


def _leaf(exc: BaseException) -> BaseException:
    """The first exception an exception group (the SDK's task groups raise them) holds."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class _Server:
    """One MCP server's session, held open by a task of its own until `close()`."""

    def __init__(self, spec: mcp.McpServer, rules: AddressRules) -> None:
        self.spec = spec
        self.rules = rules
        self.session: Any = None
        #: its tools are offered (it was reached and listed them)
        self.offered = False
        #: why the address rules refused a connection, if they did
        self.refused: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self, seconds: float) -> list[Any]:
        """Connect, initialise the session and list the tools (every page), within `seconds`."""
        ready: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready), name=f"mcp server {self.spec.label}")
        async with asyncio.timeout(seconds):
            return await ready

    async def call(self, name: str, arguments: dict[str, Any], seconds: float) -> Any:
        async with asyncio.timeout(seconds):
            return await self.session.call_tool(name, arguments)

    def failure(self, exc: BaseException) -> tuple[dict[str, Any], str]:
        """What went wrong with the server (`_failure`), the values of the headers given for it left out
        (a server may repeat them)."""
        error, message = _failure(exc)
        secrets = [value for value in self.spec.headers.values() if len(value) >= 6]
        if secrets and any(secret in message for secret in secrets):
            for secret in secrets:
                message = message.replace(secret, "[redacted]")
            error = {**error, "message": message}
        return error, message

    async def _hold(self, ready: asyncio.Future[list[Any]]) -> None:
        import httpx2
        from mcp import ClientSession
        from mcp import types as mcp_types
        from mcp.client.streamable_http import streamable_http_client

        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(httpx2.AsyncClient(
                    transport=_guarded_transport(self), headers=self.spec.headers, trust_env=False,
                    follow_redirects=False, timeout=httpx2.Timeout(CALL_TIMEOUT, read=300.0)))  # (as the SDK's)
                streams = await stack.enter_async_context(streamable_http_client(self.spec.url, http_client=client))
                session = await stack.enter_async_context(ClientSession(
                    read_stream=streams[0], write_stream=streams[1],
                    client_info=mcp_types.Implementation(name="hubroute", version=__version__)))
                await session.initialize()
                listing = await session.list_tools()
                tools = list(listing.tools)
                for _ in range(MAX_PAGES - 1):  # servers may page tools/list
                    if not listing.next_cursor:
                        break
                    listing = await session.list_tools(
                        params=mcp_types.PaginatedRequestParams(cursor=listing.next_cursor))
                    tools.extend(listing.tools)
                self.session = session
                if not ready.done():
                    ready.set_result(tools)
                await self._stop.wait()
        except Exception as exc:  # (closing may fail too, once the server is gone: nothing to tell then)
            if not ready.done():
                ready.set_exception(exc)
        finally:
            if not ready.done():
                ready.cancel()

    async def close(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        if self.session is None:  # never ready: nothing to end politely
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait([task], timeout=1.0)
            return
        self._stop.set()
        _, pending = await asyncio.wait([task], timeout=CLOSE_TIMEOUT)
        if pending:
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait([task], timeout=1.0)


def _guarded_transport(server: _Server) -> Any:
    """An HTTP transport for `server` whose connections reach only the addresses its host resolves
    to that the `inputs:` address rules allow (a refusal noted in `server.refused`)."""
    import httpcore2
    import httpx2

    class Guarded(httpcore2.AsyncNetworkBackend):
        def __init__(self) -> None:
            self.inner = httpcore2.AnyIOBackend()
            self.resolver = server.rules.resolver()

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                              local_address: str | None = None, socket_options: Any = None) -> Any:
            from hubroute.inputs.fetch import Refused

            try:
                found = await self.resolver.resolve(host, port, socket.AF_UNSPEC)
            except Refused as exc:
                server.refused = str(exc)
                raise httpcore2.ConnectError(str(exc)) from None
            except OSError as exc:
                raise httpcore2.ConnectError(f"the host name could not be resolved ({exc})") from None
            error: Exception = httpcore2.ConnectError(f"{host} has no address")
            for address in found:
                try:
                    return await self.inner.connect_tcp(address["host"], port, timeout, local_address, socket_options)
                except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                    error = exc
            raise error

        async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                      socket_options: Any = None) -> Any:
            raise httpcore2.ConnectError("MCP servers are reached over TCP only")

        async def sleep(self, seconds: float) -> None:
            await self.inner.sleep(seconds)

    transport = httpx2.AsyncHTTPTransport()
    # the pool httpx builds, with our network backend (httpx takes none): the transport's only connections
    if not isinstance(getattr(transport, "_pool", None), httpcore2.AsyncConnectionPool):
        raise RuntimeError("httpx2's transport changed: MCP connections cannot be checked")
    transport._pool = httpcore2.AsyncConnectionPool(ssl_context=httpx2.create_ssl_context(), network_backend=Guarded())
    return transport
