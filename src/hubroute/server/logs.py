"""Logging: one JSON object per line on stderr, and one access-log line per request.

Nothing here ever sees a request's headers or body, so keys cannot reach a log line; error messages
that quote provider answers are scrubbed in hubroute.errors before they get here.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from hubroute.server.record import RequestRecord

access = logging.getLogger("hubroute.access")
_listener: QueueListener | None = None


class _Queued(QueueHandler):
    """A QueueHandler that formats in the writer's thread: the record goes as it is (its message
    already merged), not formatted on the event loop."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        return record


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
        elif record.exc_text:
            out["exc"] = record.exc_text
        return orjson.dumps(out).decode()


def configure(level: str = "info") -> None:
    """JSON lines on stderr. hubroute's own loggers hand their records to a queue that a thread
    writes out, so a slow reader of stderr (a log shipper, a full pipe) never stalls the event loop;
    what is queued is written out at exit."""
    global _listener
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    if _listener is not None:
        _listener.stop()
    _listener = QueueListener(queue.SimpleQueue(), handler)
    _listener.start()
    atexit.register(_listener.stop)
    root = logging.getLogger("hubroute")
    root.handlers[:] = [_Queued(_listener.queue)]
    root.setLevel(level.upper())
    root.propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = root.handlers
        lg.setLevel(level.upper())
        lg.propagate = False


def access_log(record: RequestRecord) -> None:
    """The access-log sink: one JSON line per request with the record's fields (usage and cost
    included). Written by the log queue's thread, never on the event loop."""
    if access.isEnabledFor(logging.INFO):
        access.info("request", extra={"fields": record.to_json()})
