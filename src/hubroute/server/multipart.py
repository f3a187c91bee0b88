"""multipart/form-data request bodies (OpenAI's /v1/audio/transcriptions), parsed as they arrive.

Files are written to `SpooledBody`s (memory, then a temporary file), so a 20 MB recording costs a
chunk of memory, not 20 MB; text fields are kept (bounded in size and number). The parser is
python-multipart's streaming one, the parser Starlette uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hubroute.errors import InvalidRequest
from hubroute.inputs.spool import SpooledBody
from hubroute.server.asgi import body_chunks

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64


@dataclass(slots=True)
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, SpooledBody] = field(default_factory=dict)

    def close(self) -> None:
        for body in self.files.values():
            body.close()


class _Collector:
    """The parser's callbacks: headers of the current part, then its data into a field or a file."""

    def __init__(self, form: Form, max_file_bytes: int) -> None:
        self.form = form
        self.max_file = max_file_bytes
        self.headers: dict[bytes, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name = ""
        self.file: SpooledBody | None = None
        self.value = bytearray()
        self.parts = 0

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.part_begin, "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data, "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequest(f"the form has more than {MAX_PARTS} parts", param="body")
        self.headers, self.file, self.value = {}, None, bytearray()
        self.header_field = self.header_value = b""

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode(errors="replace")
        if not self.name:
            raise InvalidRequest("a form part has no name", param="body")
        if b"filename" in options:
            ctype = self.headers.get(b"content-type", b"").partition(b";")[0].strip().decode(errors="replace")
            generic = ctype in ("", "application/octet-stream")
            self.file = SpooledBody(None if generic else ctype)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            if self.file.size + (end - start) > self.max_file:
                raise InvalidRequest(f"'{self.name}': is too large (more than {self.max_file} bytes)",
                                     param=self.name)
            self.file.write(data[start:end])
        else:
            if len(self.value) + (end - start) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"'{self.name}': is longer than {MAX_FIELD_BYTES} bytes", param=self.name)
            self.value += data[start:end]

    def part_end(self) -> None:
        if self.file is not None:
            self.form.files[self.name] = self.file.finish()
        else:
            self.form.fields[self.name] = self.value.decode(errors="replace")


async def read_form(receive: Any, content_type: bytes, *, max_file_bytes: int, within: float) -> Form:
    """The form of a multipart/form-data request, read from the ASGI `receive` as it arrives."""
    mime, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise InvalidRequest("expected a multipart/form-data body (with a boundary)", param="body")
    form = Form()
    collector = _Collector(form, max_file_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in body_chunks(receive, within):
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        form.close()
        raise InvalidRequest(f"the multipart body is malformed: {exc}", param="body") from None
    except BaseException:
        form.close()
        if collector.file is not None:
            collector.file.close()
        raise
    return form
