"""GET /health and GET /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubroute import __version__
from hubroute.errors import AuthError
from hubroute.server.asgi import Scope, send_bytes, send_json
from hubroute.server.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

_UP = {"status": "ok"}


async def health(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    """Open to all (a load balancer's probe carries no key): that the router is up. The router's
    state (version, requests in flight, open circuits, pauses a provider's Retry-After imposed) only
    with a valid key, when a key is required."""
    if not app.auth.open:
        try:
            ctx.principal = await app.auth.authenticate(ctx.headers)
        except AuthError:
            await send_json(send, ctx, 200, _UP)
            return
    h = app.health
    await send_json(send, ctx, 200, {
        "status": "ok",
        "version": __version__,
        "inflight": app.inflight - 1,  # not counting this health check
        "open_circuits": [f"{p}/{m}" for p, m in h.open_circuits()],
        "paused": [{"provider": p, "model": m, "seconds_left": round(left, 1)} for (p, m), left in h.paused()],
    })


async def metrics(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_bytes(send, ctx, 200, app.metrics.render(), [(b"content-type", CONTENT_TYPE.encode())])
