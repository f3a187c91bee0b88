"""What a relayed answer says about itself, read on the way past without holding it: the model
that answered and its usage, for the routes that pass a provider's answer through unchanged.

    AnswerTap(content_type)  feed(chunk) per relayed piece; model and usage after the last one

Known shapes: a JSON answer (chat, completions, embeddings: `model` and `usage` at its top level),
parsed at the end when it is at most 1 MiB; an SSE stream (chat or completions chunks), whose
`model` is read from its first events and whose usage from the last event that carries one (within
its final 64 KiB). Anything else is relayed without usage.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import orjson

from hubroute.usage import Usage

_JSON_LIMIT = 1 << 20
_HEAD = 4096
_TAIL = 64 * 1024
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,256})"')


class AnswerTap:
    __slots__ = ("_head", "_kind", "_parts", "_size")

    def __init__(self, content_type: str | None) -> None:
        kind = (content_type or "").partition(";")[0].strip().lower()
        self._kind: str | None = "json" if kind == "application/json" else "sse" if kind == "text/event-stream" \
            else None
        self._parts: deque[bytes] = deque()
        self._size = 0
        self._head = b""

    def feed(self, chunk: bytes) -> None:
        if self._kind is None or not chunk:
            return
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._kind == "json":
            if self._size > _JSON_LIMIT:  # too large to be worth parsing: relayed without usage
                self._kind = None
                self._parts.clear()
            return
        if len(self._head) < _HEAD:
            self._head += chunk[: _HEAD - len(self._head)]
        parts = self._parts
        while self._size - len(parts[0]) >= _TAIL:  # keep the last 64 KiB, whole pieces
            self._size -= len(parts.popleft())

    def result(self) -> tuple[str | None, Usage | None]:
        """The model that answered and the provider's usage, each None when not found."""
        if self._kind == "json":
            try:
                obj = orjson.loads(b"".join(self._parts))
            except orjson.JSONDecodeError:
                return None, None
            if not isinstance(obj, dict):
                return None, None
            model = obj.get("model")
            return (model if isinstance(model, str) else None), Usage.from_openai(obj.get("usage"))
        if self._kind == "sse":
            found = _MODEL.search(self._head)
            return (found.group(1).decode(errors="replace") if found else None), _last_usage(b"".join(self._parts))
        return None, None


def _last_usage(tail: bytes) -> Usage | None:
    end = len(tail)
    while (at := tail.rfind(b'"usage"', 0, end)) >= 0:
        start = tail.rfind(b"data:", 0, at)
        if start < 0:
            return None
        stop = tail.find(b"\n", at)
        data = tail[start + 5 : stop if stop >= 0 else len(tail)].strip()
        end = start
        try:
            obj: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and (usage := Usage.from_openai(obj.get("usage"))) is not None:
            return usage
    return None
