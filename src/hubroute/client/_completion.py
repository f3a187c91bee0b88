"""LiteLLM's functions over hubroute: `completion()`, `acompletion()`, `embedding()`, `aembedding()`,
`image_generation()`, `aimage_generation()`, `transcription()`, `atranscription()`.

Model names, as LiteLLM writes them for Hugging Face, or as hubroute does:

    huggingface/<provider>/<org>/<model>   pinned to that provider
    huggingface/<org>/<model>              the router picks (LiteLLM would use hf-inference; hubroute
                                           chooses among every provider serving it, with failover)
    huggingface/tgi  + api_base            any OpenAI-compatible server (TGI, vLLM, an Inference Endpoint)
    org/model[:provider|:policy]           hubroute's own names

`api_base` (or $HUBROUTE_BASE_URL) sends the call through a router; otherwise it goes direct, with
the keys of the config ($HUBROUTE_CONFIG), the environment and `api_key`. Answers are OpenAI-shaped
records (attribute and dict access); `response.provider` names who served the call. The sync
functions are the async ones run on the client's private loop thread.
"""

from __future__ import annotations

import base64
import functools
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from hubroute.client import _outputs as out
from hubroute.client._async import AsyncInferenceClient
from hubroute.client._backend import EMBEDDINGS_ROUTE
from hubroute.client._inputs import ContentT
from hubroute.client._loop import LOOP
from hubroute.client._records import named, wrap
from hubroute.client._sync import blocking
from hubroute.errors import InvalidRequest
from hubroute.routing import litellm
from hubroute.task_names import TEXT_TO_IMAGE

ModelResponse = named("ModelResponse")
ModelResponseStream = named("ModelResponseStream")
EmbeddingResponse = named("EmbeddingResponse")
ImageResponse = named("ImageResponse")
TranscriptionResponse = named("TranscriptionResponse")

#: where LiteLLM finds a Hugging Face token, in its order
_HF_KEYS = ("HF_TOKEN", "HUGGINGFACE_API_KEY", "HUGGINGFACE_API_TOKEN")

#: one client per (api_base, api_key, provider, timeout): its connections and engine are reused
_CLIENTS: dict[tuple[str | None, str | None, str | None, float | None], AsyncInferenceClient] = {}


def parse_model(model: str, api_base: str | None) -> tuple[str, str | None, str | None]:
    """(model name, provider or None, base URL or None) for a LiteLLM- or hubroute-style name
    (LiteLLM's names are read by `routing.litellm`, as the router reads its `model_list`)."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' must be a non-empty string", param="model")
    if not litellm.is_huggingface(model):
        return model, None, api_base
    from hubroute.providers import REGISTRY

    name = litellm.parse(model, api_base, REGISTRY, openai=False)
    return name.model, name.provider, name.server or api_base


def _client(model: str, api_key: str | None, api_base: str | None, timeout: float | None,
            ) -> tuple[AsyncInferenceClient, str]:
    name, provider, base = parse_model(model, api_base)
    if api_key is None and name == "tgi" and base is not None:
        # an Inference Endpoint takes the HF token, from the variables LiteLLM reads
        api_key = next((os.environ[v] for v in _HF_KEYS if os.environ.get(v)), None)
    key = (base, api_key, provider, timeout)
    client = _CLIENTS.get(key)
    if client is None:
        client = _CLIENTS[key] = AsyncInferenceClient(provider=provider, api_key=api_key, base_url=base,
                                                      timeout=timeout)
    return client, name


def _params(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


async def acompletion(model: str, messages: list[Any], *, stream: bool = False, api_key: str | None = None,
                      api_base: str | None = None, base_url: str | None = None, timeout: float | None = None,  # noqa: ASYNC109
                      **params: Any) -> Any:
    """A chat completion in OpenAI's shape (`tools`, `tool_choice`, `response_format` and every other
    parameter are sent as given); `stream=True` gives an async iterator of chunks."""
    client, name = _client(model, api_key, api_base or base_url, timeout)
    answer = await client.chat_completion(messages, model=name, stream=stream, extra_body=_params(params))
    if stream:
        answer.convert = lambda obj: wrap(obj, ModelResponseStream)
        return answer
    return out.served(ModelResponse(answer), answer.provider)


async def aembedding(model: str, input: str | list[str], *, api_key: str | None = None,
                     api_base: str | None = None, base_url: str | None = None, timeout: float | None = None,  # noqa: ASYNC109
                     **params: Any) -> Any:
    """Embeddings in OpenAI's shape: `data[i].embedding`."""
    client, name = _client(model, api_key, api_base or base_url, timeout)
    body = {"model": name, "input": input, **_params(params)}
    answer = await client._timed(client._backend().openai(EMBEDDINGS_ROUTE, body, client.provider), name)
    return out.served(wrap(answer.data, EmbeddingResponse), answer.provider)


async def aimage_generation(prompt: str, model: str, *, size: str | None = None, api_key: str | None = None,
                            api_base: str | None = None, base_url: str | None = None, timeout: float | None = None,  # noqa: ASYNC109
                            **params: Any) -> Any:
    """An image in OpenAI's shape: `data[0].b64_json`. `size` ("1024x768") sets width and height."""
    client, name = _client(model, api_key, api_base or base_url, timeout)
    parameters = _params({k: v for k, v in params.items() if k not in ("n", "response_format", "quality")})
    if size:
        width, _, height = size.partition("x")
        parameters.update(width=int(width), height=int(height))
    answer = await client._task(TEXT_TO_IMAGE, name, prompt, parameters)
    data = out.media(TEXT_TO_IMAGE, answer, "image")
    response = {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(data).decode(), "url": None}]}
    return out.served(wrap(response, ImageResponse), answer.provider)


async def atranscription(model: str, file: ContentT, *, api_key: str | None = None, api_base: str | None = None,
                         base_url: str | None = None, timeout: float | None = None, **params: Any) -> Any:  # noqa: ASYNC109
    """A transcription in OpenAI's shape: `text`."""
    client, name = _client(model, api_key, api_base or base_url, timeout)
    result = await client.automatic_speech_recognition(file, model=name, extra_body=_params(params) or None)
    return out.served(wrap({"text": result.text}, TranscriptionResponse), result.provider)


def _sync(function: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return blocking(LOOP.run(function(*args, **kwargs)))

    call.__name__ = call.__qualname__ = function.__name__[1:]
    return call


completion = _sync(acompletion)
embedding = _sync(aembedding)
image_generation = _sync(aimage_generation)
transcription = _sync(atranscription)

__all__ = ["acompletion", "aembedding", "aimage_generation", "atranscription", "completion",
           "embedding", "image_generation", "parse_model", "transcription"]
