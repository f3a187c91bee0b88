"""POST /v1/responses, GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items:
OpenAI's Responses API on every chat provider.

The request becomes a chat completion request (`hubroute.responses_api`) over the conversation so
far, goes through the router as chat does (plan, failover, metering, billing), and its answer or
stream comes back as a response. With `store` (the default, as OpenAI's) the response is kept in the
router's store before its end is sent, so that a `previous_response_id` sent the moment the client
has it finds it, on any instance; `store: false` keeps nothing (Codex replays the whole input each
turn). A response is its owner's (`store.responses.Owner`): the key's user, and the organisation
billed; anyone else gets 404, as for an id that does not exist. A stored response whose keeping
failed (the database down) still reaches the client, with `store: false`, and one log line.
A failed stream is not kept.

Remote MCP tools (`{"type": "mcp", ...}`) are run by the router between the model's rounds, all in
one response (`responses_mcp.py`); without them a request takes the paths below unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from hubroute import replayed
from hubroute import responses_api as api
from hubroute.errors import InvalidRequest, NotFound, ProviderResponseError
from hubroute.routing import openai
from hubroute.routing.session import ResponseFrames, StreamSession
from hubroute.server.asgi import Scope, parse_json_object, read_body, send_bytes
from hubroute.server.routes.chat import Shape, Translated, relay_stream
from hubroute.server.routes.responses_mcp import McpTools
from hubroute.server.routes.validate import validate_chat
from hubroute.store.responses import Owner
from hubroute.usage import Usage, counted, total

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from hubroute.providers import HttpRequest, Target
    from hubroute.routing.router import Plan
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

log = logging.getLogger("hubroute.server")


async def create(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    api.check(body)
    items = api.input_items(body)
    tools = api.tools_of(body)
    servers = McpTools.of(app, ctx, body)
    history: list[dict[str, Any]] = []
    previous = body.get("previous_response_id")
    if previous:
        found = await app.responses.conversation(previous, await viewer(app, ctx)) if app.responses else None
        if found is None:
            raise InvalidRequest(f"previous_response_id: no response {previous!r} (responses are kept "
                                 f"{app.settings.responses.retention_days:g} days, and only with store: true)",
                                 param="previous_response_id", code="previous_response_not_found")
        history = found
    chat = api.to_chat(body, history + items, tools)
    validate_chat(chat)
    plan = await app.plan(ctx, body["model"], openai.CHAT_API.task, chat)
    if servers is None and not history and body.get("store") is False and _native(plan):
        await _as_it_is(app, ctx, receive, send, body, chat, plan)
        return
    keep = _Keeping(app, ctx, body, items) if body.get("store", True) and app.responses is not None else None
    rid = api.new_id("resp")
    if tools.dropped:
        ctx.extra_headers = (*ctx.extra_headers, (b"x-hubroute-dropped-tools", ",".join(tools.dropped).encode()))
    if servers is not None:
        try:
            await _with_mcp(app, ctx, receive, send, body, history + items, tools, plan, servers, keep, rid)
        finally:
            await servers.close()
        return
    if chat.get("stream"):
        session = await openai.stream(app.router, plan, openai.CHAT_API, chat)
        snapshot = api.response(rid, body, status="in_progress", stored=keep is not None)
        stream = api.ResponseStream(snapshot, tools, _signed(session))
        await relay_stream(ctx, session, receive, send, _Events(stream, keep))
        return
    answer = await openai.send(app.router, plan, openai.CHAT_API, chat)
    ctx.served(answer.target, answer.ttfb, answer.errors)
    ctx.used(answer.usage, answer.target.pricing)
    data = answer.data if isinstance(answer.data, dict) else orjson.loads(answer.body)
    output, status, reason = api.from_chat(data, tools, replayed.signature(answer.target.name,
                                                                          answer.target.provider_model))
    made = api.response(rid, body, status=status, output=output, usage=answer.usage, incomplete=reason,
                        stored=keep is not None)
    if keep is not None:
        made["store"] = await keep.put(made)
    await send_bytes(send, ctx, 200, orjson.dumps(made))


def _native(plan: Plan) -> bool:
    """Whether every provider the request may go to speaks the Responses API itself (directly: Hugging
    Face's router is reached at its providers' chat routes)."""
    return bool(plan.targets) and all(t.provider.responses_route is not None and not t.endpoint.via_hf
                                      for t in plan.targets)


async def _as_it_is(app: App, ctx: RequestRecord, receive: Any, send: Any, body: dict[str, Any],
                    chat: dict[str, Any], plan: Plan) -> None:
    """A request that needs none of the router's state (`store: false`, no `previous_response_id`, no
    MCP tools), to providers that speak the API themselves: sent as it came (its model theirs), its
    answer or events relayed as they came, with failover; metered from the usage its response
    carries (else counted from the request, as chat)."""
    def build(target: Target) -> HttpRequest:
        return target.provider.build_responses(body, target)

    def count(chunks: int) -> Usage:
        return counted(chat, chunks)

    if body.get("stream"):
        session = await app.router.stream(plan, build, count=count, frames=ResponseFrames)
        await relay_stream(ctx, session, receive, send, _AsItCame())
        return
    answer = await app.router.send(plan, build, _a_response)
    ctx.served(answer.target, answer.ttfb, answer.errors)
    ctx.used(answer.usage or counted(chat, 0), answer.target.pricing)
    await send_bytes(send, ctx, 200, answer.body)


def _a_response(target: Target, data: Any) -> Any:
    if not isinstance(data, dict) or data.get("object") != "response":
        raise ProviderResponseError(f"{target.name} answered a Responses API request with something else than a "
                                    "response", provider=target.name, status_code=200,
                                    body=orjson.dumps(data)[:300].decode(errors="replace"))
    return data


class _AsItCame(Shape):
    """A provider's own Responses API events, as they came (each with its `event:` line again); an
    error that cuts the stream as the API's `error` event."""

    def __init__(self) -> None:
        self.sequence = -1

    def batch(self, out: bytes) -> bytes:
        framed = []
        for frame in out.split(b"\n\n"):
            if not frame.startswith(b"data: {"):
                continue
            if frame.startswith(b'data: {"type":"'):  # (the type first, as OpenAI gives it: read, not parsed)
                kind = frame[15:frame.index(b'"', 15)]
            else:
                event = orjson.loads(frame[6:])
                kind = str(event.get("type", "")).encode()
            framed.append(b"event: " + kind + b"\n" + frame + b"\n\n")
        if framed:
            at = out.rfind(b'"sequence_number":')
            if at >= 0:
                digits = out[at + 18:at + 30].split(b",")[0].split(b"}")[0].strip()
                self.sequence = int(digits) if digits.isdigit() else self.sequence
        return b"".join(framed)

    def end(self, session: StreamSession) -> bytes:
        return b""

    def error(self, status: int, body: dict[str, Any], session: StreamSession) -> bytes:
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        self.sequence += 1
        return b"event: error\ndata: " + orjson.dumps({
            "type": "error", "sequence_number": self.sequence, "code": error.get("code") or error.get("type"),
            "message": str(error.get("message", "")), "param": error.get("param")}) + b"\n\n"


async def _with_mcp(app: App, ctx: RequestRecord, receive: Any, send: Any, body: dict[str, Any],
                    conversation: list[dict[str, Any]], tools: api.Tools, plan: Plan, servers: McpTools,
                    keep: _Keeping | None, rid: str) -> None:
    """A response whose MCP servers' tools are offered, and their calls run, round after round."""
    listed = await servers.open(tools)
    chat = api.to_chat(body, conversation, tools)  # (now with the servers' tools)
    validate_chat(chat)
    servers.start(chat, plan)
    if chat.get("stream"):
        session = await openai.stream(app.router, plan, openai.CHAT_API, chat)
        snapshot = api.response(rid, body, status="in_progress", stored=keep is not None)
        stream = api.ResponseStream(snapshot, tools, _signed(session))
        shape = _Events(stream, keep, servers, listed)
        await relay_stream(ctx, session, receive, send, shape)
        return
    output, status, reason, usage = await servers.answer(listed)
    made = api.response(rid, body, status=status, output=output, usage=usage, incomplete=reason,
                        stored=keep is not None)
    if keep is not None:
        made["store"] = await keep.put(made)
    await send_bytes(send, ctx, 200, orjson.dumps(made))


async def get(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body, _ = await _found(app, ctx)
    await send_bytes(send, ctx, 200, orjson.dumps(body))


async def delete(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    rid = ctx.params["id"]
    if app.responses is None or not await app.responses.delete(rid, await viewer(app, ctx)):
        raise _not_found(rid)
    await send_bytes(send, ctx, 200, orjson.dumps({"id": rid, "object": "response.deleted", "deleted": True}))


async def input_items(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    """A response's input items, newest first unless `order=asc`, `limit` (1-100, 20) at a time after
    the item `after` (or before `before`)."""
    _, items = await _found(app, ctx)
    query = _query(ctx.query)
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        raise InvalidRequest("limit: an integer from 1 to 100", param="limit") from None
    if not 1 <= limit <= 100:
        raise InvalidRequest("limit: an integer from 1 to 100", param="limit")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order: 'asc' or 'desc'", param="order")
    listed = items if order == "asc" else items[::-1]
    for name in ("after", "before"):
        if name in query:
            ids = [item.get("id") for item in listed]
            if query[name] not in ids:
                raise InvalidRequest(f"{name}: no item {query[name]!r} in this response's input", param=name)
            at = ids.index(query[name])
            listed = listed[at + 1:] if name == "after" else listed[:at]
    page = listed[:limit]
    await send_bytes(send, ctx, 200, orjson.dumps({
        "object": "list", "data": page, "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None, "has_more": len(listed) > limit}))


async def viewer(app: App, ctx: RequestRecord) -> Owner:
    """Who asks: the master key (or a keyless deployment) sees every response; a stored key, those of
    its user and of the organisation it bills (X-HF-Bill-To, checked as for a request)."""
    principal = ctx.principal
    if not principal.stored:
        return Owner(key=principal.key_id, everyone=True)
    org = ctx.billed_org
    named = ctx.headers.get(b"x-hf-bill-to")
    if org is None and named and app.billing is not None:
        org, _ = await app.billing.billed_org(principal, named.decode(errors="replace"))
    return Owner(user=principal.user, org=org or principal.org or principal.bill_to, key=principal.key_id)


async def _found(app: App, ctx: RequestRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rid = ctx.params["id"]
    found = await app.responses.get(rid, await viewer(app, ctx)) if app.responses is not None else None
    if found is None:
        raise _not_found(rid)
    body, items = found
    return body, items


def _signed(session: StreamSession) -> str:
    """What signs the reasoning of the provider `session` streams from."""
    return replayed.signature(session.target.name, session.target.provider_model)


def _not_found(rid: str) -> NotFound:
    return NotFound(f"no response {rid!r}", param="id")


def _query(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode(errors="replace")))


class _Keeping:
    """Keeps a response in the store (`store: true`): its input items, its owner, its predecessor."""

    def __init__(self, app: App, ctx: RequestRecord, body: dict[str, Any], items: list[dict[str, Any]]) -> None:
        self.app = app
        self.ctx = ctx
        self.items = items
        self.previous = body.get("previous_response_id")

    async def put(self, made: dict[str, Any]) -> bool:
        """Keep `made`; False (and one log line) if the store could not."""
        principal = self.ctx.principal
        owner = Owner(user=principal.user, org=self.ctx.billed_org or principal.org, key=principal.key_id)
        try:
            await self.app.responses.put({**made, "store": True}, self.items, owner, self.previous)
        except Exception as exc:
            from hubroute.store import reason

            log.warning("response %s (request %s) not kept: %s", made["id"], self.ctx.request_id, reason(exc))
            return False
        return True


class _Events(Translated[api.ResponseStream]):
    """A chat stream as the Responses API's events; the response kept before its last event. With MCP
    servers (`mcp`, and the `mcp_list_tools` items they `listed`), the answer goes on, stream after
    stream, while the model calls their tools; its usage is the streams' sum."""

    def __init__(self, stream: api.ResponseStream, keep: _Keeping | None, mcp: McpTools | None = None,
                 listed: list[dict[str, Any]] | None = None) -> None:
        self.stream = stream
        self.keep = keep
        self.stored = keep is not None
        self.tail = b""
        self.mcp = mcp
        self.listed = listed or []
        self.rounds = mcp is not None
        #: the streams of the rounds before the current one
        self.earlier: list[StreamSession] = []

    def begin(self) -> bytes:
        out = self.stream.start()
        for item in self.listed:
            out += self.stream.listed(item)
        return out

    async def follow(self, session: StreamSession, write: Callable[[bytes], Awaitable[None]]) -> StreamSession | None:
        assert self.mcp is not None
        following = await self.mcp.follow(self.stream, write)
        if following is not None:
            self.earlier.append(session)
            self.stream.signed = _signed(following)
        return following

    def sessions(self, session: StreamSession) -> Sequence[StreamSession]:
        return (*self.earlier, session)

    def _usage(self, session: StreamSession) -> Any:
        return total(s.usage for s in self.sessions(session)) if self.earlier else session.usage

    async def settle(self, session: StreamSession) -> None:
        if self.keep is not None:
            self.tail = self.stream.close_items()
            self.stored = await self.keep.put(self.stream.final(self._usage(session)))

    def end(self, session: StreamSession) -> bytes:
        return self.tail + self.stream.finish(self._usage(session), stored=self.stored)

    def error(self, status: int, body: dict[str, Any], session: StreamSession) -> bytes:
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        return self.stream.failed(self._usage(session), str(error.get("code") or error.get("type") or "server_error"),
                                  str(error.get("message", "")), stored=False)
