"""Small builders shared by the provider tests: targets on a direct or Hugging Face endpoint, and the
replay of recorded tapes through an adapter."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson

from hubroute.providers import CHAT, TEXT_GENERATION, Endpoint, HttpRequest, Provider, Target

from .tapes import tapes

DIRECT_KEY = "sk-direct-0123456789"
HF_KEY = "hf_x"
HF_ROUTER = "https://router.huggingface.co"

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "Answer", "schema": SCHEMA}}


def direct(provider: Provider, key: str | None = DIRECT_KEY) -> Endpoint:
    assert provider.base_url is not None, f"{provider.name} has no direct endpoint"
    return Endpoint(base_url=provider.base_url, api_key=key)


def via_hf(provider: Provider) -> Endpoint:
    return Endpoint(base_url=f"{HF_ROUTER}/{provider.name}", api_key=HF_KEY, via_hf=True)


def target(
    provider: Provider,
    endpoint: Endpoint,
    *,
    model: str = "org/Some-Model",
    provider_model: str = "provider-model-id",
    task: str = CHAT,
) -> Target:
    return Target(provider=provider, model=model, provider_model=provider_model, task=task, endpoint=endpoint)


def chat(provider: Provider, endpoint: Endpoint, body: dict[str, Any] | None = None, **kw: Any) -> HttpRequest:
    body = body if body is not None else {"model": "org/Some-Model", "messages": [{"role": "user", "content": "hi"}]}
    return provider.build_chat(body, target(provider, endpoint, **kw))


def sent(req: HttpRequest) -> dict[str, Any]:
    assert req.body is not None
    out: dict[str, Any] = orjson.loads(req.body)
    return out


def _model_in_url(provider: Provider, task: str, url: str) -> str | None:
    """The provider model id a templated route (`/models/{model}/...`) put into `url`."""
    template = provider.routes[task]
    if "{model}" not in template:
        return None
    head, tail = template.split("{model}")
    m = re.search(re.escape(head) + "(?P<model>.+)" + re.escape(tail) + "$", url)
    assert m, f"{url} does not follow {template}"
    return m.group("model")


def replay(provider: Provider, url: str, endpoint: Endpoint, *, task: str = CHAT) -> int:
    """Rebuild every successful request recorded at `url` and check the adapter accepts every answer.

    The rebuilt request must go to the recorded URL with the recorded body (the provider's model id
    substituted); a non-streamed answer must pass `check_chat`/`check_completion` unchanged, and every
    streamed chunk must pass `adapt_chunk` without losing anything. Returns the number of tapes replayed.
    """
    recorded = tapes(url)
    for tape in recorded:
        body = tape.request_json
        provider_model = _model_in_url(provider, task, tape.url) or body["model"]
        tgt = target(provider, endpoint, provider_model=provider_model, task=task)
        req = provider.build_chat(body, tgt) if task == CHAT else provider.build_completion(body, tgt)
        assert req.method == tape.method == "POST"
        assert req.url == tape.url
        assert sent(req) == {**body, "model": provider_model}
        assert req.stream is bool(body.get("stream"))

        if tape.is_stream:
            events = tape.events()
            assert events, "a streamed tape with no events"
            text = ""
            for event in events:
                adapted = provider.adapt_chunk(copy.deepcopy(event))
                assert adapted == event  # recorded chunks need no rewriting, and none may be lost
                for choice in adapted.get("choices") or ():
                    text += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
            assert text.strip(), "the streamed answer carried no text"
        else:
            data = tape.response_json()
            checked = (
                provider.check_chat(copy.deepcopy(data))
                if task == CHAT
                else provider.check_completion(copy.deepcopy(data))
            )
            assert checked == data
            choice = checked["choices"][0]
            answer = choice["message"]["content"] if task == CHAT else choice["text"]
            assert isinstance(answer, str)
            assert answer
    return len(recorded)


__all__ = [
    "CHAT",
    "DIRECT_KEY",
    "HF_KEY",
    "HF_ROUTER",
    "JSON_SCHEMA_FORMAT",
    "SCHEMA",
    "TEXT_GENERATION",
    "chat",
    "direct",
    "replay",
    "sent",
    "target",
    "via_hf",
]
