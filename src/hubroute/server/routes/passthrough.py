"""`/{provider}/{provider route}`: the provider-native routes that `huggingface_hub` and
`@huggingface/inference` send to Hugging Face's router when called with an HF token.

The caller is authenticated as on every route; its credential is then swapped for the provider's
(its own key, or the HF token through Hugging Face's router, as for routed requests), and the body,
the query and the answer pass through unchanged, streamed both ways as they come. Provider errors
keep the provider's status and body, as Hugging Face's router does; failures of our own (no
credentials, connection refused, timeout) are OpenAI-shaped errors like everywhere else.

The request is recorded like any other: the model and usage are read from the answers whose shape
is known (chat and completions JSON and streams, embeddings: `server.tap`) and priced from the
catalog's mapping of that provider id; other answers are recorded without usage.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from hubroute.errors import HubrouteError, InvalidRequest, NotSupported
from hubroute.providers import HttpRequest
from hubroute.server.admission import admit_native
from hubroute.server.asgi import Scope, read_body_spooled
from hubroute.server.byok import own_endpoint
from hubroute.server.tap import AnswerTap

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord
    from hubroute.usage import Usage

#: request headers forwarded to the provider (the rest, credentials first of all, are not)
_FORWARD = (b"content-type", b"accept", b"x-wait-for-model", b"x-use-cache", b"prefer")
#: response headers relayed to the client
_RELAY = ("content-type", "content-disposition", "retry-after", "x-request-id")
#: the requested model, read from the start of a JSON request body
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')
_MODEL_HEAD = 65536


def provider_route(app: App, path: str) -> tuple[str, str] | None:
    """The provider and its route a path names: `/{provider}/{route}`, or a path one provider's
    clients send without the prefix (`Provider.unprefixed_paths`); None if neither."""
    name, _, route = path[1:].partition("/")
    if name in app.upstreams.providers:
        return name, route
    for provider, adapter in app.upstreams.providers.items():
        if adapter.unprefixed_paths and path.startswith(adapter.unprefixed_paths):
            return provider, path[1:]
    return None


def provider_of(app: App, path: str) -> str | None:
    """The provider a provider-native path is for, if it names one this router knows."""
    found = provider_route(app, path)
    return found[0] if found else None


def _unavailable(app: App, name: str) -> NotSupported:
    return NotSupported(f"Provider '{name}' is not available here: {app.upstreams.why_unreachable(name)}",
                        param="provider")


async def passthrough(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    name, route = provider_route(app, ctx.path) or ("", "")
    if not route or any(part in ("", ".", "..") for part in route.split("/")):
        raise InvalidRequest(f"'{ctx.path}' is not a provider route", param="path")
    provider = app.upstreams.provider(name)
    endpoint = ours = app.upstreams.endpoint(name)
    if ours is None and ctx.principal.stored:  # reachable with the caller's own key, if it has one
        endpoint = app.upstreams.keyless(name)
    if provider is None or endpoint is None:
        raise _unavailable(app, name)
    ctx.provider = name
    # a spooled body: an upload (audio, an image) is held once and sent on in chunks
    body = await read_body_spooled(receive, app.max_body, app.body_timeout) if ctx.method != "GET" else None
    if body is not None and (found := _MODEL.search(body.head(_MODEL_HEAD))):
        ctx.requested = found.group(1).decode(errors="replace")
    if ctx.principal.stored:
        try:
            admit_native(ctx.principal, name, _names(app, name, ctx.requested))
            own = (await app.bill(ctx)).get(name)
            mine = own_endpoint(endpoint, own, app.upstreams.direct_base(name)) if own else None
            if mine is not None:  # the caller's own key for this provider: called with it, directly
                endpoint, ctx.byok_providers = mine, frozenset((name,))
            elif ours is None:
                raise _unavailable(app, name)  # only a key of its own would have reached it
            mapped = app.catalog.find_mapping(name, ctx.requested) if ctx.requested else None
            await app.hold(ctx, [mapped[1].pricing if mapped else None], None, [mine is not None])
        except HubrouteError:
            if body is not None:
                body.close()
            raise
    headers = {k.decode(): v.decode(errors="replace") for k, v in ctx.headers.items() if k in _FORWARD}
    headers.update(provider.auth_headers(endpoint))
    url = provider.passthrough_url(endpoint, route, ctx.query.decode(errors="replace"))

    try:
        resp = await app.transport.open(HttpRequest(ctx.method, url, headers, body), name, app.router.timeouts)
    finally:
        if body is not None:
            body.close()
    ctx.ttfb = time.perf_counter() - resp.started
    ctx.attempts = 1
    tap = AnswerTap(resp.content_type) if resp.status < 400 else None
    try:
        relay = [(k.encode(), resp.headers[k].encode()) for k in _RELAY if k in resp.headers]
        ctx.status = resp.status
        await send({"type": "http.response.start", "status": resp.status, "headers": ctx.response_headers(relay)})
        async for chunk in resp.chunks():
            if tap is not None:
                tap.feed(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        await resp.release()
        if tap is not None:
            _meter(app, ctx, name, *tap.result())


def _names(app: App, provider: str, model: str | None) -> tuple[str, ...]:
    """The names a passthrough request's model goes by: the provider's id, and the Hub id it maps to."""
    if model is None:
        return ()
    found = app.catalog.find_mapping(provider, model)
    return (model, found[0].id) if found else (model,)


def _meter(app: App, ctx: RequestRecord, provider: str, model: str | None, usage: Usage | None) -> None:
    """The record learns the model that answered (its Hub id when the catalog maps it) and the usage."""
    model = model or ctx.requested
    if model is None:
        return
    found = app.catalog.find_mapping(provider, model)
    ctx.provider_model = model
    ctx.model = found[0].id if found else model
    ctx.used(usage, found[1].pricing if found else None)
