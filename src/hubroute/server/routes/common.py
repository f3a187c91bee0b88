"""What every routed answer records: who served it, how fast, after how many attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubroute.routing.router import Answer
from hubroute.server.asgi import Ctx

if TYPE_CHECKING:
    from hubroute.server.app import App


def record(app: App, ctx: Ctx, answer: Answer) -> None:
    ctx.provider = answer.target.name
    ctx.ttfb = answer.ttfb
    ctx.attempts = len(answer.errors) + 1
    app.metrics.first_byte(answer.target.name, answer.ttfb)
