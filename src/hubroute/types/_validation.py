"""Turning msgspec's validation errors into InvalidRequest errors that name the field, and the
kind check for binary fields.

    Expected `int | null`, got `str` - at `$.parameters.top_k`
        -> 'parameters.top_k' must be an integer, not a string          (param "parameters.top_k")
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from hubroute.errors import InvalidRequest, scrub

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`(?:, got `(?P<got>[^`]+)`| (?P<rule>.+))$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
_ENUM = re.compile(r"^Invalid enum value (?P<value>.+)$")

_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "bytes": "binary data",
    "null": "null",
}


def _describe(types: str, *, drop_null: bool, got: bool = False) -> str:
    parts = [t.strip() for t in types.split("|")]
    if drop_null and len(parts) > 1:
        parts = [t for t in parts if t != "null"]
    names = {**_NAMES, "float": "a decimal number"} if got else _NAMES
    return " or ".join(dict.fromkeys(names.get(t, t) for t in parts))


def _error(message: str, *, param: str | None) -> InvalidRequest:
    # field names and enum values come from the request: bounded, and never a credential
    if param is not None and len(param) > 200:
        param = param[:200] + "…"
    return InvalidRequest(scrub(message), param=param)


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def translate(error: msgspec.ValidationError, task: str, input_type: Any) -> InvalidRequest:
    """The InvalidRequest for a ValidationError raised while converting a `task` request."""
    m = _AT.match(str(error))
    assert m is not None  # the pattern matches any string
    msg, path = m["msg"], (m["path"] or "").lstrip(".")
    if found := _MISSING.match(msg):
        field = _join(path, found["field"])
        return _error(f"'{field}' is required for {task}", param=field)
    if found := _UNKNOWN.match(msg):
        field = _join(path, found["field"])
        known = ", ".join(_field_names(_info_at(input_type, path))) or "none"
        if path.startswith("parameters"):
            text = (
                f"Unknown parameter '{field}' for {task} (known: {known}). hubroute rejects parameters a task "
                "does not define, where Hugging Face's API would silently ignore them"
            )
        else:
            text = f"Unknown field '{field}' for {task} (known: {known})"
        return _error(text, param=field)
    if found := _EXPECTED.match(msg):
        want = _describe(found["want"], drop_null=True)
        if found["got"]:
            got = _describe(found["got"], drop_null=False, got=True)
            return _error(f"'{path}' must be {want}, not {got}", param=path or None)
        rule = "a non-empty array" if msg == "Expected `array` of length >= 1" else f"{want} {found['rule']}"
        return _error(f"'{path}' must be {rule}", param=path or None)
    if found := _ENUM.match(msg):
        info = _info_at(input_type, path)
        choices = _literal_values(info)
        allowed = f": one of {', '.join(map(repr, choices))}" if choices else ""
        if choices and _member(info, msgspec.inspect.BoolType) is not None:
            allowed += ", or a boolean"
        return _error(f"'{path}' has an invalid value {found['value']}{allowed}", param=path)
    return _error(f"'{path}': {msg}" if path else msg, param=path or None)


def _info_at(tp: Any, path: str) -> Any:
    """msgspec's description of the type at dotted `path` (struct fields only) of `tp`, or None."""
    info: Any = msgspec.inspect.type_info(tp)
    for name in filter(None, path.split(".")):
        struct = _member(info, msgspec.inspect.StructType)
        if struct is None:
            return None
        info = next((f.type for f in struct.fields if f.encode_name == name), None)
    return info


def _member(info: Any, kind: type[Any]) -> Any:
    """`info` if it is a `kind`, else its member of that kind if it is a union."""
    if isinstance(info, kind):
        return info
    if isinstance(info, msgspec.inspect.UnionType):
        return next((t for t in info.types if isinstance(t, kind)), None)
    return None


def _field_names(info: Any) -> tuple[str, ...]:
    struct = _member(info, msgspec.inspect.StructType)
    return tuple(f.encode_name for f in struct.fields) if struct is not None else ()


def _literal_values(info: Any) -> tuple[Any, ...]:
    literal = _member(info, msgspec.inspect.LiteralType)
    return tuple(literal.values) if literal is not None else ()


# --- binary fields --------------------------------------------------------------------------

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_DATA_URI = re.compile(r"data:[^,\s]*,", re.I)
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-\r\n]*={0,2}")
_MAX_URL = 8192
#: how much of a base64 string is looked at: enough to tell text from data, cheap on a 20 MB upload
_PROBE = 1024


def looks_binary(value: str) -> bool:
    """A URL, a data URI, or base64 (padded or not): the string forms a binary input may take.

    This tells text from data by looking at the start and the end of the string, without copying
    it; it does not decode anything. hubroute.inputs decodes and fetches, and refuses what is not
    valid (a URL's scheme, broken base64); the rules here accept everything it accepts."""
    start, end = 0, len(value)
    while start < end and value[start].isspace():
        start += 1
    while end > start and value[end - 1].isspace():
        end -= 1
    if start == end:
        return False
    if _DATA_URI.match(value, start):
        return True
    if end - start <= _MAX_URL and _URL.fullmatch(value, start, end):
        return True
    if not _BASE64.fullmatch(value, start, min(end, start + _PROBE)):
        return False
    if not _BASE64.fullmatch(value, max(start, end - 8), end):
        return False
    if value.find("\n", start, start + _PROBE) >= 0 or value.find("\r", start, start + _PROBE) >= 0:
        return True  # line-wrapped: counting the characters would cost a full scan
    return (end - start) % 4 != 1  # one character past a 4-character group is never base64


_ARTICLE = {"image": "an image", "audio": "audio"}


def check_binary(obj: Any, path: str, kind: str) -> None:
    """Raise InvalidRequest unless the field at dotted `path` of `obj` holds binary data."""
    value = obj
    for name in path.split("."):
        value = getattr(value, name)
    if isinstance(value, bytes):
        if value:
            return
        problem = "empty"
    elif isinstance(value, str):
        if value and looks_binary(value):
            return
        problem = "text" if value else "empty"
    else:
        problem = f"a JSON {_json_kind(value)}"
    raise InvalidRequest(
        f"'{path}' must be {_ARTICLE.get(kind, kind)}: a URL, a data URI, base64-encoded data or raw bytes "
        f"(got {problem})",
        param=path,
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "object"
