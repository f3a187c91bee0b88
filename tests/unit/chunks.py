"""Chat chunks, as a provider streams them, whole chat answers, and another API's stream events read
back: what the unit tests of the translators (`messages_api`, `responses_api`) feed and check."""

from __future__ import annotations

from typing import Any

import orjson


def events(raw: bytes) -> list[dict[str, Any]]:
    """The stream's events, each one's `event:` line checked against its data's type."""
    out = []
    for frame in raw.decode().split("\n\n")[:-1]:
        kind, data = frame.split("\n")
        event = orjson.loads(data.removeprefix("data: "))
        assert kind == f"event: {event['type']}"
        out.append(event)
    return out


def delta(**fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}


def finished(reason: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def tool_delta(index: int, **fields: Any) -> dict[str, Any]:
    return delta(tool_calls=[{"index": index, **fields}])


def answer(message: dict[str, Any], finish: str | None = "stop") -> dict[str, Any]:
    """A whole chat completion whose one choice is the assistant's `message`."""
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "finish_reason": finish,
                                             "message": {"role": "assistant", **message}}]}


def call(call_id: Any, name: str = "read", arguments: Any = "{}") -> dict[str, Any]:
    """A tool call of a whole chat answer."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
