"""Builders shared by the end-to-end tests: router configs over mock providers, chat calls, and the
checks every error answer must pass."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx2 as httpx
import orjson
import yaml

from tests.conftest import RunningRouter
from tests.mocks import MockProvider

MODEL = "acme/chat-model"
CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def config(
    *providers: MockProvider | tuple[str, str],
    model: str = MODEL,
    routing: dict[str, Any] | None = None,
    pricing: dict[str, dict[str, float]] | None = None,
    **sections: Any,
) -> str:
    """YAML for OpenAI-compatible mock providers that all serve `model` (provider id `<name>-model`),
    tried in the order given (`:preferred`, unless `routing` says otherwise).

    A provider is a MockProvider or a (name, base_url) pair, e.g. one pointing at a closed port."""
    named = [(p.name, p.url) if isinstance(p, MockProvider) else p for p in providers]
    mappings = []
    for name, _ in named:
        m: dict[str, Any] = {"provider": name, "provider_id": f"{name}-model"}
        if pricing and name in pricing:
            m["pricing"] = pricing[name]
        mappings.append(m)
    conf: dict[str, Any] = {
        "providers": {name: {"type": "openai-compatible", "base_url": f"{url}/v1"} for name, url in named},
        "models": [{"id": model, "providers": mappings}],
        "routing": {"default_policy": "preferred", "preferred": [n for n, _ in named], **(routing or {})},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(conf.get(key), dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    return yaml.safe_dump(conf, sort_keys=False)


async def chat(r: RunningRouter, model: str = MODEL, headers: dict[str, str] | None = None,
               **body: Any) -> httpx.Response:
    body.setdefault("messages", HI)
    async with r.client() as c:
        return await c.post(CHAT, json={"model": model, **body}, headers=headers)


async def stream_chat(r: RunningRouter, model: str = MODEL, headers: dict[str, str] | None = None,
                      **body: Any) -> tuple[httpx.Response, list[str]]:
    """POST a streamed chat request; returns the response and its SSE frames (without blank lines)."""
    body.setdefault("messages", HI)
    async with r.client() as c, c.stream("POST", CHAT, json={"model": model, "stream": True, **body},
                                         headers=headers) as resp:
        raw = (await resp.aread()).decode()
    return resp, [f for f in raw.split("\n\n") if f]


def frame_json(frame: str) -> Any:
    assert frame.startswith("data: "), frame
    return orjson.loads(frame[len("data: "):])


def content_of(frames: Sequence[str]) -> str:
    """The text a streamed answer spells out."""
    out = []
    for f in frames:
        if f == "data: [DONE]":
            continue
        for choice in frame_json(f).get("choices") or ():
            out.append((choice.get("delta") or {}).get("content") or "")
    return "".join(out)


def assert_error(resp: httpx.Response, status: int | tuple[int, ...], code: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error answer: {"error": {"message", "type", "code"}}; returns the inner object."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    assert resp.headers.get("x-request-id")
    err = assert_error_body(resp.json())
    if code is not None:
        assert err["code"] == code, err
    return err


def assert_error_body(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    assert "code" in err, err
    assert "Traceback" not in err["message"], err
    return err


def header(received: Any, name: str) -> str | None:
    """A header the mock provider received, looked up case-insensitively."""
    for key, value in received.headers.items():
        if key.lower() == name.lower():
            return str(value)
    return None


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait for `check()` to hold (a record or log line is written just after its answer is sent)."""
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)
