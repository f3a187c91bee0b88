"""What one request used, and what it cost.

`Usage` holds every unit a provider bills by: tokens for text (input, output, and of those the
cached input and the reasoning output), images, seconds of audio or video, characters of text to
speech, requests. A unit is None when it is not known, and an explicit zero from a provider stays
zero. `source` says who counted: "provider" (its `usage` object) or "hubroute" (counted here when the
provider reported nothing: a stream cut short, a provider that sends no usage, an HF-shaped answer).

    Usage.from_openai(obj)              an OpenAI `usage` object (chat, completions, embeddings)
    estimate_tokens(text)               hubroute's count of the tokens in a text (no tokenizer)
    task_usage(task, inputs, output)    the units of a task call (images, characters, seconds...)
    Usage.cost(pricing)                 USD, from the served mapping's `Pricing`; None with no price
    total(usages)                       several provider calls' usage as one request's

Counting without a tokenizer: about four characters a token for English text with the BPE
vocabularies of current chat models. A streamed answer cut short is counted one token per content
chunk relayed (providers stream about one token per chunk), which needs no parsing on the relay's
hot path.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from hubroute.task_names import (
    AUTOMATIC_SPEECH_RECOGNITION,
    FEATURE_EXTRACTION,
    IMAGE_TO_IMAGE,
    TEXT_GENERATION,
    TEXT_TO_IMAGE,
    TEXT_TO_SPEECH,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hubroute.catalog import Pricing

Source = Literal["provider", "hubroute"]
_PER_M = 1e-6
_IMAGE_TASKS = frozenset({TEXT_TO_IMAGE, IMAGE_TO_IMAGE})


class Usage:
    __slots__ = ("characters", "images", "input_cached", "input_tokens", "output_reasoning", "output_tokens",
                 "requests", "seconds", "source")

    def __init__(
        self, input_tokens: int | None = None, output_tokens: int | None = None, *,
        input_cached: int | None = None, output_reasoning: int | None = None, images: int | None = None,
        seconds: float | None = None, characters: int | None = None, requests: int = 1,
        source: Source = "provider",
    ) -> None:
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.input_cached = input_cached
        self.output_reasoning = output_reasoning
        self.images = images
        self.seconds = seconds
        self.characters = characters
        self.requests = requests
        self.source: Source = source

    @property
    def tokens(self) -> int:
        """Input and output tokens together (what a tokens-per-minute limit counts)."""
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    def __repr__(self) -> str:
        return f"Usage({', '.join(f'{k}={v!r}' for k, v in self.to_json().items())})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Usage) and self.to_json() == other.to_json()

    @classmethod
    def from_openai(cls, obj: Any) -> Usage | None:
        """An OpenAI `usage` object (`prompt_tokens`, `completion_tokens`, their `_details`); None when
        `obj` is not one. The Responses API's and Anthropic's names (`input_tokens`, `output_tokens`)
        are read too."""
        if not isinstance(obj, dict):
            return None
        prompt = obj.get("prompt_tokens")
        completion = obj.get("completion_tokens")
        if type(prompt) is int and type(completion) is int and prompt >= 0 and completion >= 0 \
                and "prompt_tokens_details" not in obj and "completion_tokens_details" not in obj:
            return cls(prompt, completion)  # the common shape, read at once
        prompt = _int(prompt)
        if prompt is None:
            prompt = _int(obj.get("input_tokens"))
        completion = _int(completion)
        if completion is None:
            completion = _int(obj.get("output_tokens"))
        if prompt is None and completion is None:
            return None
        cached = _int(_get(obj, "prompt_tokens_details", "cached_tokens"))
        if cached is None:
            cached = _int(obj.get("cache_read_input_tokens"))
        if cached is None:  # (the Responses API's names)
            cached = _int(_get(obj, "input_tokens_details", "cached_tokens"))
        reasoning = _int(_get(obj, "completion_tokens_details", "reasoning_tokens"))
        if reasoning is None:
            reasoning = _int(_get(obj, "output_tokens_details", "reasoning_tokens"))
        return cls(prompt, completion, input_cached=cached, output_reasoning=reasoning)

    def to_json(self) -> dict[str, Any]:
        """The known units (the access log's and the ledger's shape)."""
        out: dict[str, Any] = {}
        for key in ("input_tokens", "output_tokens", "input_cached", "output_reasoning", "images", "seconds",
                    "characters", "requests"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["source"] = self.source
        return out

    def cost(self, pricing: Pricing | None) -> float | None:
        """USD at `pricing`; None when no unit used has a price. Cached input tokens are priced at
        `cached_input` (else `input`); the rest of the input at `input`."""
        if pricing is None:
            return None
        total = 0.0
        priced = False
        if self.input_tokens is not None and pricing.input is not None:
            cached = min(self.input_cached or 0, self.input_tokens)
            cached_price = pricing.cached_input if pricing.cached_input is not None else pricing.input
            total += ((self.input_tokens - cached) * pricing.input + cached * cached_price) * _PER_M
            priced = True
        if self.output_tokens is not None and pricing.output is not None:
            total += self.output_tokens * pricing.output * _PER_M
            priced = True
        if pricing.per_unit:
            for units, price, scale in (
                (self.images, pricing.image, 1.0),
                (self.seconds, pricing.second, 1.0),
                (self.characters, pricing.characters, _PER_M),
                (self.requests, pricing.request, 1.0),
            ):
                if units is not None and price is not None:
                    total += units * price * scale
                    priced = True
        return round(total, 10) if priced else None


def total(usages: Iterable[Usage | None]) -> Usage | None:
    """Several provider calls' usage as one request's (the rounds of a Responses request running MCP
    tools): each unit summed over the calls that knew it (None when none did); counted by hubroute
    if any call's was. None when no call's usage is known."""
    known = [u for u in usages if u is not None]
    if len(known) < 2:
        return known[0] if known else None
    out = Usage(requests=0, source="hubroute" if any(u.source == "hubroute" for u in known) else "provider")
    for key in ("input_tokens", "output_tokens", "input_cached", "output_reasoning", "images", "seconds",
                "characters", "requests"):
        values = [v for u in known if (v := getattr(u, key)) is not None]
        setattr(out, key, sum(values) if values else None)
    return out


def estimate_tokens(text: str) -> int:
    """hubroute's count of the tokens in `text`: about four characters a token, at least one for any
    text (a tokenizer is not worth loading to meter what the provider did not report)."""
    return tokens_in(len(text))


def tokens_in(characters: int) -> int:
    """`estimate_tokens` of a text of this many characters."""
    return math.ceil(characters / 4) if characters else 0


def prompt_text(body: dict[str, Any]) -> str:
    """The text of a chat or completions request (messages' text parts, or `prompt`), for counting."""
    return "\n".join(_prompt_parts(body))


def prompt_length(body: dict[str, Any]) -> int:
    """`len(prompt_text(body))`, without joining the text."""
    parts = _prompt_parts(body)
    return sum(map(len, parts)) + len(parts) - 1 if parts else 0


def _prompt_parts(body: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        parts.append(prompt)
    elif isinstance(prompt, list):
        parts.extend(p for p in prompt if isinstance(p, str))
    inputs = body.get("input")
    if isinstance(inputs, str):
        parts.append(inputs)
    elif isinstance(inputs, list):
        parts.extend(p for p in inputs if isinstance(p, str))
    return parts


def counted(body: dict[str, Any], output_tokens: int | None) -> Usage:
    """Usage counted by hubroute for a text request the provider did not report on."""
    return Usage(tokens_in(prompt_length(body)), output_tokens, source="hubroute")


def task_usage(task: str, inputs: Any, output: Any, *, count: int = 1, seconds: float | None = None) -> Usage:
    """The billable units of `count` calls of a task: images generated, characters spoken, seconds of
    audio transcribed (`seconds`, the audio's length measured before it was sent by `audio_length.audio_seconds`;
    else what the answer's timestamps say), tokens of text tasks (counted)."""
    usage = Usage(requests=count, source="hubroute")
    if task in _IMAGE_TASKS:
        usage.images = count
    elif task == TEXT_TO_SPEECH and isinstance(inputs, str):
        usage.characters = len(inputs) * count
    elif task == AUTOMATIC_SPEECH_RECOGNITION:
        usage.seconds = seconds if seconds is not None else _transcript_seconds(output)
    elif task == TEXT_GENERATION and isinstance(inputs, str):
        usage.input_tokens = estimate_tokens(inputs)
        text = output[0] if isinstance(output, list) and output else output
        generated = text.get("generated_text") if isinstance(text, dict) else None
        if isinstance(generated, str):
            usage.output_tokens = estimate_tokens(generated)
    elif task == FEATURE_EXTRACTION:
        texts = [inputs] if isinstance(inputs, str) else inputs
        if isinstance(texts, list) and all(isinstance(t, str) for t in texts):
            usage.input_tokens = sum(estimate_tokens(t) for t in texts)
    return usage


def _transcript_seconds(output: Any) -> float | None:
    chunks = output.get("chunks") if isinstance(output, dict) else None
    if isinstance(chunks, list) and chunks and isinstance(chunks[-1], dict):
        stamp = chunks[-1].get("timestamp")
        if isinstance(stamp, list | tuple) and stamp and isinstance(stamp[-1], int | float):
            return float(stamp[-1])
    return None


def _int(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _get(obj: dict[str, Any], key: str, sub: str) -> Any:
    inner = obj.get(key)
    return inner.get(sub) if isinstance(inner, dict) else None
