"""GET /health and GET /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubroute import __version__
from hubroute.server.asgi import Scope, send_bytes, send_json
from hubroute.server.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord


async def health(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_json(send, ctx, 200, {
        "status": "ok",
        "version": __version__,
        "inflight": app.inflight - 1,  # not counting this health check
        "open_circuits": [f"{p}/{m}" for p, m in app.health.open_circuits()],
    })


async def metrics(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_bytes(send, ctx, 200, app.metrics.render(), [(b"content-type", CONTENT_TYPE.encode())])
