"""Builders for the queue/prediction adapter tests (fal-ai, replicate, wavespeed): start a task, walk
its steps with recorded or written answers, and ask huggingface_hub's own provider helper what it
sends for the same call."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from hubroute.inputs import Binary
from hubroute.providers import Endpoint, HttpRequest, Provider, Target
from hubroute.providers.steps import Done, Media, Next, Step, TaskCall

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24
MPEG = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 24


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{b64(data)}"


def task_target(p: Provider, endpoint: Endpoint, task: str, provider_model: str, *, model: str = "org/Some-Model",
                extra: dict[str, Any] | None = None) -> Target:
    return Target(provider=p, model=model, provider_model=provider_model, task=task, endpoint=endpoint,
                  extra=extra or {})


def start(p: Provider, endpoint: Endpoint, task: str, inputs: Any, parameters: dict[str, Any] | None = None,
          *, provider_model: str = "owner/model", **kw: Any) -> Next:
    call = TaskCall(task, inputs, dict(parameters or {}))
    return p.start_task(call, task_target(p, endpoint, task, provider_model, **kw))


def body(req: HttpRequest) -> Any:
    assert isinstance(req.body, bytes)
    return orjson.loads(req.body)


def walk(first: Next, *answers: Any) -> tuple[list[Next], Step]:
    """Feed `answers` (decoded JSON) to the steps in turn; returns every step sent and the last one."""
    steps: list[Next] = [first]
    step: Step = first
    for answer in answers:
        assert isinstance(step, Next), f"the job ended before all answers were used: {step}"
        step = step.parse(answer)
        if isinstance(step, Next):
            steps.append(step)
    return steps, step


def is_download(step: Step, url: str) -> bool:
    """A result download: a credential-free GET of `url`, not a poll."""
    return (isinstance(step, Next) and step.request.method == "GET" and step.request.url == url
            and step.request.headers == {} and not step.poll)


def done_media(step: Step) -> Media:
    assert isinstance(step, Done) and isinstance(step.value, Media), step
    return step.value


def hf_request(monkeypatch: pytest.MonkeyPatch, provider: str, task: str, inputs: Any,
               parameters: dict[str, Any] | None = None, *, provider_id: str, hub_id: str = "org/Some-Model",
               api_key: str = "k", adapter_weights_path: str | None = None) -> Any:
    """What huggingface_hub's own helper sends for this call (its RequestParameters), with the Hub
    mapping answered locally."""
    from huggingface_hub.hf_api import InferenceProviderMapping
    from huggingface_hub.inference._providers import _common, get_provider_helper

    mapping = InferenceProviderMapping(provider=provider, hf_model_id=hub_id, providerId=provider_id, task=task,
                                       status="live", adapter="lora" if adapter_weights_path else None,
                                       adapterWeightsPath=adapter_weights_path)
    table = dict(_common.HARDCODED_MODEL_INFERENCE_MAPPING.get(provider, {}))
    table[hub_id] = mapping
    monkeypatch.setitem(_common.HARDCODED_MODEL_INFERENCE_MAPPING, provider, table)
    helper = get_provider_helper(provider, task, hub_id)
    return helper.prepare_request(inputs=inputs, parameters=dict(parameters or {}), headers={}, model=hub_id,
                                  api_key=api_key, extra_payload=None)


__all__ = ["MPEG", "PNG", "WAV", "Binary", "b64", "body", "done_media", "hf_request", "is_download", "start",
           "task_target", "uri", "walk"]
