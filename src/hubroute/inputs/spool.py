"""Large binary bodies held once: in memory while small, in an anonymous temporary file beyond.

A 20 MB audio upload read into memory, then copied into a request body, then into a send buffer,
costs 60 MB for one request; sixteen at once would exhaust a small router. A `SpooledBody` keeps at
most `memory_limit` bytes in memory and the rest on disk (page cache, usually), and is sent upstream
in fixed-size chunks, so that a request costs about one chunk of memory whatever its size, and can
be sent again when a failover moves it to another provider.

`Binary` (inline data) and `SpooledBody` share the small interface the transport and adapters use:
`content_type`, `size`, `read()` (all the bytes, for adapters that must embed them as base64) and
`chunks()` (for sending).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import IO

from hubroute.inputs.decode import Binary, sniff

#: bytes read from the temporary file per chunk sent
CHUNK = 256 * 1024
#: bytes kept in memory before spilling to a temporary file
MEMORY_LIMIT = 1024 * 1024


class SpooledBody:
    """A body written once (`write`, then `finish`) and read any number of times."""

    __slots__ = ("_file", "_head", "_memory", "content_type", "size")

    def __init__(self, content_type: str | None = None, memory_limit: int = MEMORY_LIMIT) -> None:
        self.content_type = content_type
        self.size = 0
        self._memory = memory_limit
        self._head: list[bytes] = []
        self._file: IO[bytes] | None = None

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self._file is None and self.size <= self._memory:
            self._head.append(chunk)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="hubroute-")  # noqa: SIM115 (closed by close())
            for part in self._head:
                self._file.write(part)
            self._head = []
        self._file.write(chunk)

    def finish(self) -> SpooledBody:
        """Done writing; sniff the content type if none was declared."""
        if self.content_type is None:
            self.content_type = sniff(self.head(64))
        return self

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def head(self, n: int) -> bytes:
        if self._file is None:
            return b"".join(self._head)[:n]
        self._file.seek(0)
        return self._file.read(n)

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset` (a header within the body, without reading it all)."""
        if self._file is None:
            return b"".join(self._head)[offset:offset + n]
        self._file.seek(offset)
        return self._file.read(n)

    def read(self) -> bytes:
        if self._file is None:
            return b"".join(self._head)
        self._file.seek(0)
        return self._file.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._file is None:
            for part in self._head:
                yield part
            return
        self._file.seek(0)
        while chunk := self._file.read(CHUNK):
            yield chunk

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._head = []

    def __repr__(self) -> str:
        return f"SpooledBody({self.size} bytes, {self.content_type!r}, on_disk={self.on_disk})"


#: a binary input or body, inline or spooled
Blob = Binary | SpooledBody


def blob_bytes(blob: Blob) -> bytes:
    return blob.data if isinstance(blob, Binary) else blob.read()


def blob_size(blob: Blob) -> int:
    return len(blob.data) if isinstance(blob, Binary) else blob.size


async def blob_chunks(blob: Blob) -> AsyncIterator[bytes]:
    if isinstance(blob, Binary):
        yield blob.data
    else:
        async for chunk in blob.chunks():
            yield chunk
