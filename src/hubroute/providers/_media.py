"""Small pieces the image, speech and video adapters share: a JSON submit, a status poll, a base64
image answer, a job's failure, HF parameter renames. Pure, like every adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from hubroute.errors import ProviderResponseError
from hubroute.providers.steps import Done, Media, Step, dig

if TYPE_CHECKING:
    from hubroute.providers._base import HttpRequest, Provider, Target


def post_json(provider: Provider, target: Target, url: str, payload: dict[str, Any]) -> HttpRequest:
    from hubroute.providers._base import HttpRequest

    return HttpRequest("POST", url, provider.headers(target), orjson.dumps(payload))


def get(provider: Provider, target: Target, url: str, *, credentials: bool = True) -> HttpRequest:
    """A status poll; it carries the provider's credential only when `credentials`."""
    from hubroute.providers._base import HttpRequest

    return HttpRequest("GET", url, provider.auth_headers(target.endpoint) if credentials else {})


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def b64_media(provider: str, answer: Any, *path: str | int) -> Done:
    """The base64 media at `path` in a JSON answer, decoded (its type told by its bytes)."""
    return Done(Media.from_b64(provider, dig(provider, answer, *path)))


def failed(provider: str, what: str, answer: Any, detail: Any = None) -> ProviderResponseError:
    """A job the provider reports as failed, with its own message when it gave one (a structured
    one as JSON)."""
    if detail is not None and not isinstance(detail, str):
        detail = orjson.dumps(detail).decode(errors="replace")[:300]
    reason = f": {detail}" if detail else ""
    return ProviderResponseError(f"{provider} reports the {what} failed{reason}", provider=provider, status_code=200,
                                 body=orjson.dumps(answer)[:500].decode(errors="replace"))


def renamed(parameters: Mapping[str, Any], names: Mapping[str, str | None]) -> dict[str, Any]:
    """`parameters` with keys renamed by `names` (a name mapped to None is dropped); None values go."""
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        if value is None:
            continue
        new = names.get(key, key)
        if new is not None:
            out[new] = value
    return out


def flat_size(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`target_size: {width, height}` (image-to-image, image-to-video) as top-level width/height."""
    out = dict(parameters)
    size = out.pop("target_size", None)
    if isinstance(size, dict):
        out.update({k: size[k] for k in ("width", "height") if size.get(k) is not None})
    return out


def negative_text(parameters: dict[str, Any]) -> dict[str, Any]:
    """text-to-video's spec has `negative_prompt` as a list; the providers take one string."""
    value = parameters.get("negative_prompt")
    if isinstance(value, list):
        parameters = {**parameters, "negative_prompt": ", ".join(str(v) for v in value)}
    return parameters


def not_json(provider: str, what: str) -> Any:
    """The parse of a step whose answer must be media (raw audio): JSON there is an error."""

    def parse(answer: Any) -> Step:
        raise ProviderResponseError(f"{provider} answered JSON where it should send {what}", provider=provider,
                                    status_code=200, body=orjson.dumps(answer)[:300].decode(errors="replace"))

    return parse


#: OpenAI speech options (`/v1/audio/speech`, carried in `TaskCall.extra`) that OpenAI-shaped speech
#: APIs take as they are
SPEECH_OPTIONS = ("voice", "speed", "response_format", "instructions")
#: OpenAI transcription options (`/v1/audio/transcriptions`) OpenAI-shaped transcription APIs take
TRANSCRIPTION_OPTIONS = ("language", "prompt", "temperature")


def openai_options(extra: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The options of an OpenAI-style request that an OpenAI-shaped provider API takes unchanged."""
    return {k: extra[k] for k in names if extra.get(k) is not None}


__all__ = ["SPEECH_OPTIONS", "TRANSCRIPTION_OPTIONS", "b64_media", "failed", "flat_size", "get", "negative_text",
           "not_json", "openai_options", "post_json", "renamed", "same_origin"]
