"""Checks on client bodies: a malformed request gets a 400 naming the field, before any provider is
called. Only the fields the router itself relies on, or whose wrong type every provider would reject,
are checked; everything else is forwarded as it came."""

from __future__ import annotations

from typing import Any

from hubroute.errors import InvalidRequest

_NUMBER = (int, float)
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "stream": ((bool,), "a boolean"),
    "temperature": (_NUMBER, "a number"),
    "top_p": (_NUMBER, "a number"),
    "frequency_penalty": (_NUMBER, "a number"),
    "presence_penalty": (_NUMBER, "a number"),
    "max_tokens": ((int,), "an integer"),
    "max_completion_tokens": ((int,), "an integer"),
    "n": ((int,), "an integer"),
    "seed": ((int,), "an integer"),
    "stop": ((str, list), "a string or a list of strings"),
    "stream_options": ((dict,), "an object"),
    "tools": ((list,), "a list"),
    "tool_choice": ((str, dict), "a string or an object"),
    "response_format": ((dict,), "an object"),
    "logit_bias": ((dict,), "an object"),
    "user": ((str,), "a string"),
}
_ROLES = {"system", "user", "assistant", "tool", "developer", "function"}
_FORMATS = {"text", "json_object", "json_schema", "json", "regex"}


def _wrong_type(name: str, value: Any, label: str) -> InvalidRequest:
    got = "a boolean" if isinstance(value, bool) else type(value).__name__
    return InvalidRequest(f"'{name}' must be {label}, got {got}", param=name)


def _common(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"].strip():
        raise InvalidRequest("'model' is required and must be a non-empty string", param="model")
    for name in _TYPES.keys() & body.keys():
        value = body[name]
        types, label = _TYPES[name]
        # exact types: a body decoded from JSON holds no subclasses, and bool is not taken for int
        if value is not None and value.__class__ not in types:
            raise _wrong_type(name, value, label)
    n = body.get("n")
    if n is not None and n < 1:
        raise InvalidRequest("'n' must be at least 1", param="n")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest("'max_tokens' must be at least 1", param="max_tokens")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise InvalidRequest("'stream_options' is only allowed with 'stream': true", param="stream_options")


def validate_chat(body: dict[str, Any]) -> None:
    _common(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty list", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"'messages[{i}]' must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:  # (a list or an object is unhashable)
            raise InvalidRequest(f"'messages[{i}].role' must be one of {', '.join(sorted(_ROLES))}, got {role!r}",
                                 param=f"messages[{i}].role")
        content = message.get("content")
        if content is None or content.__class__ is str:
            continue
        if not isinstance(content, list):
            raise InvalidRequest(f"'messages[{i}].content' must be a string or a list of parts",
                                 param=f"messages[{i}].content")
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                where = f"messages[{i}].content[{j}]"
                raise InvalidRequest(f"'{where}' must be an object with a 'type'", param=where)
    for i, tool in enumerate(body.get("tools") or ()):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"'tools[{i}]' must be {{type: function, function: {{name, ...}}}}",
                                 param=f"tools[{i}]")
    fmt = body.get("response_format")
    if fmt is not None:
        fmt = body["response_format"] = _openai_response_format(fmt)
        kind = fmt.get("type")
        if not isinstance(kind, str) or kind not in _FORMATS:
            raise InvalidRequest(
                f"'response_format.type' must be one of {', '.join(sorted(_FORMATS))}, got {kind!r}",
                param="response_format.type",
            )
        if kind == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
            raise InvalidRequest("'response_format.json_schema' must be an object", param="response_format.json_schema")


def _openai_response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    """TGI's grammar shape, which huggingface_hub sends to a `base_url` (`{type: json_object | json,
    value: schema}`), becomes OpenAI's `json_schema`, so each adapter can translate one shape."""
    if fmt.get("type") in ("json", "json_object") and isinstance(fmt.get("value"), dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt["value"]}}
    return fmt


def validate_completion(body: dict[str, Any]) -> None:
    _common(body)
    prompt = body.get("prompt")
    if not isinstance(prompt, (str, list)) or (isinstance(prompt, list) and not prompt):
        raise InvalidRequest("'prompt' is required and must be a string or a non-empty list", param="prompt")
