"""What the client asks of a mode: one protocol, two implementations.

    Routed  (`_routed.py`)  HTTP to a hubroute router (or any OpenAI-compatible server for chat)
    Direct  (`_direct.py`)  the router's own engine in-process: catalog, policies, failover, adapters

    openai(route, body, provider)         an OpenAI-API call (chat/completions, completions,
                                          embeddings) with its body as OpenAI defines it -> Answer
    openai_stream(route, body, provider)  the same, streamed -> Chunks (decoded JSON chunks)
    task(task, model, payload, provider)  a Hugging Face task call with HF's payload
                                          (`{"inputs", "parameters"}`, binary values as Content)

`provider` is None or "auto" (the router picks), a policy ("fastest", "cheapest", "preferred")
or a provider name (pinned).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from hubroute.client._inputs import Content

if TYPE_CHECKING:
    from hubroute.transport import Transport

CHAT_ROUTE = "chat/completions"
COMPLETIONS_ROUTE = "completions"
EMBEDDINGS_ROUTE = "embeddings"


@dataclass(slots=True)
class Answer:
    #: the provider that served the call (None when the server does not say)
    provider: str | None
    #: the decoded JSON answer (None for media)
    data: Any = None
    #: a media answer (an image, audio, video) and its content type
    media: bytes | None = None
    content_type: str = "application/json"


class Chunks:
    """A stream of decoded JSON chunks, in batches (the chunks one network read delivered, so that a
    reader on another thread takes them in one hop); `provider` is known once the stream is open."""

    def __init__(self, provider: str | None, batches: AsyncIterator[list[Any]],
                 close: Callable[[], Awaitable[None]]) -> None:
        self.provider = provider
        self.batches = batches
        self._close = close

    async def aclose(self) -> None:
        await self._close()


class Backend(Protocol):
    #: the pooled HTTP clients (binary inputs given as URLs are downloaded with them)
    transport: Transport

    async def openai(self, route: str, body: dict[str, Any], provider: str | None) -> Answer: ...

    async def openai_stream(self, route: str, body: dict[str, Any], provider: str | None) -> Chunks: ...

    async def task(self, task: str, model: str, payload: dict[str, Any], provider: str | None) -> Answer: ...

    async def aclose(self) -> None: ...


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def without_usage(obj: Any) -> Any:
    """A stream chunk as a router relays it to a client that did not ask for usage: the usage-only
    chunk dropped (None), usage removed from the others (an OpenAI-compatible server sends them
    anyway; a hubroute router asks for usage on its own account)."""
    if isinstance(obj, dict) and obj.get("usage") is not None:
        if not obj.get("choices"):
            return None
        obj = {k: v for k, v in obj.items() if k != "usage"}
    return obj


def model_name(model: str, provider: str | None) -> str:
    """`org/model` with the `:provider` / `:policy` suffix the router reads (none for "auto")."""
    if provider is None or provider == "auto":
        return model
    return f"{model}:{provider}"


def hf_body(payload: dict[str, Any]) -> tuple[bytes, str]:
    """Hugging Face's wire form of a task payload: a binary input alone is sent as the raw body with
    its content type; anything else as JSON, binaries inside as base64 (as huggingface_hub does)."""
    inputs = payload.get("inputs")
    if isinstance(inputs, Content) and len(payload) == 1:
        return inputs.data, inputs.content_type
    return orjson.dumps(_b64(payload)), "application/json"


def plain(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with binaries as bytes (what `hubroute.types.parse_input` checks)."""
    return {k: _bytes(v) for k, v in payload.items()}


def _bytes(value: Any) -> Any:
    if isinstance(value, Content):
        return value.data
    if isinstance(value, dict):
        return {k: _bytes(v) for k, v in value.items()}
    return value


def _b64(value: Any) -> Any:
    if isinstance(value, Content):
        return base64.b64encode(value.data).decode()
    if isinstance(value, dict):
        return {k: _b64(v) for k, v in value.items()}
    return value
