"""Binary task inputs (images, audio) as huggingface_hub takes them: raw bytes, a file object opened in
binary mode, a path (`str` or `Path`) to a local file, an http(s) URL (downloaded here, before the
call), or a PIL image (sent as PNG). Each becomes bytes plus a content type sniffed from them."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias

from hubroute.errors import InvalidRequest

if TYPE_CHECKING:
    from hubroute.transport import Transport

#: what the task methods accept for an image or an audio clip
ContentT: TypeAlias = bytes | bytearray | memoryview | BinaryIO | str | Path | Any

#: largest input downloaded from a URL
MAX_DOWNLOAD = 100 * 1024 * 1024


@dataclass(slots=True, frozen=True)
class Content:
    data: bytes
    content_type: str


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


async def read_content(value: ContentT, field: str, transport: Transport) -> Content:
    """The bytes of a binary input, whatever form huggingface_hub allows it in."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str) and _is_url(value):
        data = await _download(value, field, transport)
    elif isinstance(value, str | Path):
        path = Path(value)
        if not await asyncio.to_thread(path.is_file):
            raise InvalidRequest(f"'{field}' is neither a URL nor an existing file: {str(value)[:200]!r}",
                                 param=field)
        data = await asyncio.to_thread(path.read_bytes)
    elif hasattr(value, "read"):
        data = value.read()
        if not isinstance(data, bytes):
            raise InvalidRequest(f"'{field}': open the file in binary mode ('rb')", param=field)
    elif _is_pil_image(value):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")  # type: ignore[union-attr]
        return Content(buffer.getvalue(), "image/png")
    else:
        raise InvalidRequest(f"'{field}' must be bytes, a binary file, a path, a URL or a PIL image, "
                             f"not {type(value).__name__}", param=field)
    from hubroute.inputs.decode import sniff  # (hubroute.inputs loads aiohttp: only when used)

    return Content(data, sniff(data) or "application/octet-stream")


def _is_pil_image(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save")


async def _download(url: str, field: str, transport: Transport) -> bytes:
    import aiohttp

    try:
        async with transport.session.get(url, allow_redirects=True) as resp:
            if resp.status >= 400:
                raise InvalidRequest(f"'{field}': downloading {url[:200]} answered HTTP {resp.status}", param=field)
            data = await resp.content.read(MAX_DOWNLOAD + 1)
    except aiohttp.ClientError as exc:
        raise InvalidRequest(f"'{field}': cannot download {url[:200]}: {exc.__class__.__name__}",
                             param=field) from None
    if len(data) > MAX_DOWNLOAD:
        raise InvalidRequest(f"'{field}': {url[:200]} is larger than {MAX_DOWNLOAD} bytes", param=field)
    return data
