"""Logging: one JSON object per line on stderr, and one access-log line per request.

Nothing here ever sees a request's headers or body, so keys cannot reach a log line; error messages
that quote provider answers are scrubbed in hubroute.errors before they get here.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from hubroute.server.asgi import Ctx

access = logging.getLogger("hubroute.access")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger("hubroute")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level.upper())
        lg.propagate = False


def access_log(ctx: Ctx, elapsed: float) -> None:
    if not access.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "request_id": ctx.request_id,
        "method": ctx.method,
        "path": ctx.path,
        "status": ctx.status,
        "latency_ms": round(elapsed * 1000, 3),
    }
    for key in ("model", "provider", "error", "principal", "prompt_tokens", "completion_tokens"):
        value = getattr(ctx, key)
        if value is not None:
            fields[key] = value
    if ctx.ttfb is not None:
        fields["ttfb_ms"] = round(ctx.ttfb * 1000, 3)
    if ctx.attempts:
        fields["attempts"] = ctx.attempts
    access.info("request", extra={"fields": fields})


