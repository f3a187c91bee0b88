"""What every routed answer records: who served it, how fast, after how many attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hubroute.errors import ProviderError
from hubroute.providers import Target
from hubroute.server.asgi import Ctx

if TYPE_CHECKING:
    from hubroute.server.app import App


class Served(Protocol):
    """What every kind of answer tells: who served it, how fast, after which failed attempts."""

    target: Target
    ttfb: float
    errors: list[ProviderError]


def record(app: App, ctx: Ctx, answer: Served) -> None:
    ctx.provider = answer.target.name
    ctx.ttfb = answer.ttfb
    ctx.attempts = len(answer.errors) + 1
    app.metrics.first_byte(answer.target.name, answer.ttfb)
