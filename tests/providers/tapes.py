"""Recorded provider traffic: huggingface.js's test tapes, the subset our tests use, in
`tests/fixtures/hfjs-tapes.json` (provenance and how to add a tape: tests/fixtures/README.md).

Each tape is one real request (url, method, headers, body) and the provider's real answer (status,
headers, body). Tests look tapes up by URL and replay them through an adapter: the adapter must build
the same request and accept the same answer. Credentials were stripped when the tapes were recorded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

TAPES_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "hfjs-tapes.json"


@dataclass(frozen=True)
class Tape:
    url: str
    method: str
    request_body: str | None
    status: int
    content_type: str
    response_body: str

    @property
    def request_json(self) -> Any:
        return orjson.loads(self.request_body) if self.request_body else None

    @property
    def is_stream(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    def response_json(self) -> Any:
        return orjson.loads(self.response_body)

    def events(self) -> list[dict[str, Any]]:
        """The JSON objects of a server-sent-events answer, in order, without the `[DONE]` marker."""
        out = []
        lines = self.response_body.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if not data or data == "[DONE]":
                continue
            try:
                out.append(orjson.loads(data))
            except orjson.JSONDecodeError:
                # One recorded Cerebras stream ends in a stray `"` right after its last event (the
                # body was cut out of a JSON string when recorded). Tolerate exactly that, nothing else.
                if i != len(lines) - 1 or not data.endswith('}"'):
                    raise
                out.append(orjson.loads(data[:-1]))
        return out


@functools.cache
def all_tapes() -> tuple[Tape, ...]:
    """Every tape in the fixture file, in its order."""
    raw = orjson.loads(TAPES_FILE.read_bytes())
    tapes = []
    for entry in raw.values():
        response = entry["response"]
        headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        tapes.append(
            Tape(
                url=entry["url"],
                method=entry["init"].get("method", "GET"),
                request_body=entry["init"].get("body"),
                status=response["status"],
                content_type=headers.get("content-type", ""),
                response_body=response.get("body") or "",
            )
        )
    return tuple(tapes)


def tapes(url: str, *, status: int | None = 200) -> list[Tape]:
    """Every tape recorded against exactly `url` (and with `status`, unless None). Never empty: a URL
    that matches nothing is a mistake in the test, not a pass."""
    found = [t for t in all_tapes() if t.url == url and (status is None or t.status == status)]
    assert found, (
        f"no tape recorded for {url} (status {status}) in {TAPES_FILE.name}: it holds only the "
        "tapes our tests use; tests/fixtures/README.md says how to add one"
    )
    return found
