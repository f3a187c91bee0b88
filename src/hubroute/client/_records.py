"""Answers as objects read both ways, like huggingface_hub's and LiteLLM's: `out.choices[0].message`
and `out["choices"][0]["message"]` are the same thing.

    Record                       a dict whose keys are also attributes, nested values wrapped too
    typed(task, value)           a task's checked output (hubroute.types Structs) as Records named
                                 after HF's `<Task>Output` classes, every declared field present

A generic Record (chat completions, LiteLLM responses) answers None for a field the provider left
out, as the OpenAI and HF objects do for their optional fields; a typed one knows its fields and
refuses others.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec


class Record(dict[str, Any]):
    """A JSON object whose keys read as attributes too."""

    #: the provider that served the answer (read as `.provider` unless the answer has that key)
    __slots__ = ("_provider",)
    #: the declared fields (typed records); empty: any key, absent optional ones read as None
    _fields: tuple[str, ...] = ()
    #: attribute name -> key, where the wire name is no identifier (`content_type` -> "content-type")
    _aliases: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        key = self._aliases.get(name, name)
        try:
            value = self[key]
        except KeyError:
            if name == "provider":
                try:
                    return object.__getattribute__(self, "_provider")
                except AttributeError:
                    return None
            if name.startswith("_") or (self._fields and name not in self._fields):
                raise AttributeError(f"{type(self).__name__!r} has no field {name!r}") from None
            return None
        # nested objects become Records when first read as attributes (wrapping a whole answer up
        # front would cost every streamed chunk a walk of its tree); dict access sees the same objects
        if type(value) is dict:
            value = self[key] = Record(value)
        elif type(value) is list and value and type(value[0]) is dict:
            value = self[key] = [Record(v) if type(v) is dict else v for v in value]
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"{type(self).__name__}({fields})"

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and lists all the way down (for JSON encoders that want exactly those)."""
        plain: dict[str, Any] = msgspec.to_builtins(self)
        return plain

    #: pydantic's spelling (LiteLLM's and OpenAI's responses are pydantic models)
    model_dump = to_dict


def wrap(value: Any, cls: type[Record] = Record) -> Any:
    """Decoded JSON as a Record of class `cls` (a list: each of its objects); the objects inside become
    Records when first read as attributes."""
    if isinstance(value, dict):
        return cls(value)
    if isinstance(value, list):
        return [wrap(v, cls) for v in value]
    return value


def named(name: str) -> type[Record]:
    """A generic Record class with a name of HF's (`ChatCompletionOutput`, ...)."""
    return _named(name, ())


@cache
def _named(name: str, fields: tuple[str, ...], aliases: tuple[tuple[str, str], ...] = ()) -> type[Record]:
    return type(name, (Record,), {"__slots__": (), "_fields": fields, "_aliases": dict(aliases)})


def typed(value: Any) -> Any:
    """A checked task output (Structs, lists of them, plain values) as Records named after the Structs,
    with every declared field present (None when the provider did not send it), as in HF's classes."""
    if isinstance(value, msgspec.Struct):
        cls = type(value)
        fields = msgspec.structs.fields(cls)
        aliases = tuple((f.name, f.encode_name) for f in fields if f.name != f.encode_name)
        record = _named(cls.__name__, tuple(f.name for f in fields), aliases)
        return record({f.encode_name: typed(getattr(value, f.name)) for f in fields})
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, dict):
        return Record({k: typed(v) for k, v in value.items()})
    return value
