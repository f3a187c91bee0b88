"""Builders for the media-task adapter tests: start a task, walk its steps with recorded or written
answers, and ask huggingface_hub's own provider helper what it would send for the same call."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hubroute.inputs import Binary
from hubroute.providers import Endpoint, Provider
from hubroute.providers.steps import Done, Media, Next, Step, TaskCall

from .helpers import target
from .job_steps import body as body  # re-exported for the media-task tests
from .job_steps import walk as walk

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24


def start(p: Provider, endpoint: Endpoint, task: str, inputs: Any, parameters: dict[str, Any] | None = None,
          *, provider_model: str = "provider-model-id", model: str = "org/Some-Model") -> Next:
    call = TaskCall(task, inputs, dict(parameters or {}))
    return p.start_task(call, target(p, endpoint, task=task, provider_model=provider_model, model=model))


def done_media(step: Step) -> Media:
    assert isinstance(step, Done) and isinstance(step.value, Media), step
    return step.value


def is_download(step: Step, url: str) -> bool:
    """A result download: a credential-free GET of `url`."""
    return isinstance(step, Next) and step.request.method == "GET" and step.request.url == url \
        and step.request.headers == {} and not step.poll


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image(data: bytes = PNG, content_type: str = "image/png") -> Binary:
    return Binary(data, content_type)


def audio(data: bytes = WAV, content_type: str = "audio/wav") -> Binary:
    return Binary(data, content_type)


@contextmanager
def hub_mapping(provider: str, hub_id: str, provider_id: str, task: str) -> Iterator[None]:
    """Make huggingface_hub resolve `hub_id` on `provider` without asking the Hub (no network here)."""
    from huggingface_hub.hf_api import InferenceProviderMapping
    from huggingface_hub.inference._providers import _common

    table = _common.HARDCODED_MODEL_INFERENCE_MAPPING
    had = provider in table
    saved = dict(table.get(provider, {}))
    table[provider] = {**saved, hub_id: InferenceProviderMapping(
        provider=provider, hf_model_id=hub_id, providerId=provider_id, task=task, status="live")}
    try:
        yield
    finally:
        if had:
            table[provider] = saved
        else:
            del table[provider]


def hub_request(provider: str, task: str, inputs: Any, parameters: dict[str, Any], provider_id: str,
                *, api_key: str = "k-direct") -> Any:
    """What huggingface_hub's own helper sends for this call (`RequestParameters`)."""
    from huggingface_hub.inference._providers import get_provider_helper

    hub_id = "org/Hub-Model"
    with hub_mapping(provider, hub_id, provider_id, task):
        helper = get_provider_helper(provider, task, hub_id)  # type: ignore[arg-type]
        return helper.prepare_request(inputs=inputs, parameters=parameters, headers={}, model=hub_id,
                                      api_key=api_key, extra_payload=None)
