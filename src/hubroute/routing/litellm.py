"""LiteLLM's model names, read in one place (the config's `model_list` and the client's
`completion()` / `embedding()` both take them):

    huggingface/<provider>/<org>/<model>   a Hub model pinned to one provider
    huggingface/<org>/<model>[:suffix]     a Hub model, the router picks (hubroute's own name)
    huggingface/tgi  + api_base            an OpenAI-compatible server (TGI, vLLM, an Inference
    huggingface/https://<server>           Endpoint); the id sent is `tgi`, as LiteLLM sends it
    openai/<id>      [+ api_base]          OpenAI's API, or the OpenAI-compatible server at api_base,
                                           with `<id>` sent unchanged

Problems are `InvalidRequest`s whose `param` names the offending field (`model` or `api_base`): the
client answers them as they are, the config turns them into a `ConfigError` naming its key.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from hubroute.errors import InvalidRequest

HUGGINGFACE = "huggingface/"
#: the id LiteLLM sends to a `huggingface/tgi` server (TGI ignores it; vLLM-style servers may not)
TGI_ID = "tgi"


@dataclass(slots=True, frozen=True)
class LiteLLMName:
    """What a LiteLLM model name asks for.

    `model` is a Hub name (`org/model`, maybe with a `:provider` or `:policy` suffix) when `server`
    is None, else the id to send as it is to that OpenAI-compatible server. `provider` is the
    provider a `huggingface/<provider>/...` name pins (or `openai` for `openai/<id>` without a server).
    """

    model: str
    provider: str | None = None
    server: str | None = None


def is_huggingface(model: str) -> bool:
    return isinstance(model, str) and model.startswith(HUGGINGFACE) and len(model) > len(HUGGINGFACE)


def parse(model: str, api_base: str | None, providers: Collection[str], *, openai: bool = True) -> LiteLLMName:
    """Read a LiteLLM model name. `providers` are the provider names a `huggingface/<provider>/...`
    name may pin; `openai=False` leaves `openai/...` out (in the client, `openai/gpt-oss-120b` is a Hub
    id of the `openai` organisation, not LiteLLM's OpenAI provider)."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' must be a non-empty string", param="model")
    model = model.strip()
    prefix, _, rest = model.partition("/")
    if prefix == "huggingface" and rest:
        return _huggingface(model, rest, api_base, providers)
    if openai and prefix == "openai" and rest:
        if api_base:
            _check_url(api_base, "api_base")
            return LiteLLMName(rest, server=api_base)
        return LiteLLMName(rest, provider="openai")
    kinds = "huggingface/... or openai/..." if openai else "huggingface/..."
    raise InvalidRequest(f"'{model}' is not a LiteLLM model name hubroute serves ({kinds})", param="model")


def _huggingface(model: str, rest: str, api_base: str | None, providers: Collection[str]) -> LiteLLMName:
    if rest == TGI_ID or rest.startswith(("http://", "https://")):
        base = api_base or rest
        if not base.startswith(("http://", "https://")):
            raise InvalidRequest("huggingface/tgi needs `api_base`: the URL of the server", param="api_base")
        return LiteLLMName(TGI_ID, server=base)
    first, _, after = rest.partition("/")
    if after.count("/") == 1 and after.split("/")[0] and after.split("/")[1]:
        if first not in providers:
            raise InvalidRequest(f"'{model}': unknown provider '{first}' in huggingface/<provider>/<org>/<model>",
                                 param="model")
        return LiteLLMName(after, provider=first)
    if rest.count("/") > 1 or not all(rest.split("/")):
        raise InvalidRequest(f"'{model}' is not huggingface/<provider>/<org>/<model> or huggingface/<org>/<model>",
                             param="model")
    return LiteLLMName(rest)


def _check_url(url: str, param: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(f"{param} must be an http(s) URL, not {url!r}", param=param)
