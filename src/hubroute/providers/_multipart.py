"""multipart/form-data bodies (RFC 7578), for the providers whose upload routes take a form (OpenAI's
`/audio/transcriptions` shape). Pure: no I/O; a fresh random boundary per body.

    encode(fields, files) -> (body bytes, content type with its boundary)

`fields` are text parts (numbers and booleans written as JSON writes them, lists and objects as JSON);
`files` are `FilePart`s. Every part and the closing delimiter end in CRLF, as the RFC requires.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class FilePart:
    name: str
    filename: str
    content_type: str
    data: bytes


def boundary() -> str:
    """A boundary that cannot occur by chance in the parts (128 random bits)."""
    return "hubroute-" + secrets.token_hex(16)


def field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _quote(value: str) -> str:
    """A name or filename inside a quoted header parameter: quotes and line breaks escaped (RFC 7578 4.2)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode(fields: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), files: Iterable[FilePart] = (),
           *, boundary_value: str | None = None) -> tuple[bytes, str]:
    """The form's body and its `multipart/form-data; boundary=...` content type."""
    mark = boundary_value or boundary()
    items = fields.items() if isinstance(fields, Mapping) else fields
    delimiter = b"--" + mark.encode()
    out: list[bytes] = []
    for f in files:
        out += [
            delimiter, CRLF,
            f'Content-Disposition: form-data; name="{_quote(f.name)}"; filename="{_quote(f.filename)}"'.encode(),
            CRLF, f"Content-Type: {f.content_type}".encode(), CRLF, CRLF, f.data, CRLF,
        ]
    for name, value in items:
        if value is None:
            continue
        out += [delimiter, CRLF, f'Content-Disposition: form-data; name="{_quote(name)}"'.encode(), CRLF, CRLF,
                field_text(value).encode(), CRLF]
    out += [delimiter, b"--", CRLF]
    return b"".join(out), f"multipart/form-data; boundary={mark}"


__all__ = ["FilePart", "boundary", "encode", "field_text"]
