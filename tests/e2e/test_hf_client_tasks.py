"""The real huggingface_hub InferenceClient, every hf-inference task, through a real router, two ways:

* server-side routing: the client's model is `{hubroute}/models/{org}/{model}`; hf-inference must
  receive what huggingface_hub sends it itself for the same call;
* Hugging Face router compatibility: `provider="hf-inference"` with the router URL pointed at hubroute
  (`constants.INFERENCE_PROXY_TEMPLATE`), the request passing through to the provider.

The mock HF router answers each task in hf-inference's wire format; the client must parse what
comes back into its own output types (images into PIL images, vectors into numpy arrays).
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from huggingface_hub import InferenceClient, constants
from PIL import Image

from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, Received, json_reply
from tests.providers.test_hf_inference import hub_request, wire
from tests.types.examples import REPOS
from tests.types.test_hf_client import CALLS

MASTER = "hf_hubroute_master_key_1"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(64)
MASK = base64.b64encode(PNG).decode()

#: task -> (hf-inference's answer: JSON, or (bytes, content type)), and a check of the client's output
ANSWERS: dict[str, tuple[Any, Any]] = {
    "audio-classification": ([{"label": "happy", "score": 0.9}], lambda o: o[0].label == "happy"),
    "audio-to-audio": ([{"label": "s1", "content-type": "audio/flac", "blob": base64.b64encode(WAV).decode()}],
                       lambda o: o[0].blob == WAV),
    "automatic-speech-recognition": ({"text": "hello"}, lambda o: o.text == "hello"),
    "document-question-answering": ([{"answer": "42", "score": 0.9, "start": 1, "end": 2}],
                                    lambda o: o[0].answer == "42"),
    "feature-extraction": ([0.5, 0.25], lambda o: o.tolist() == [[0.5, 0.25]] or o.tolist() == [0.5, 0.25]),
    "fill-mask": ([{"sequence": "life is joy", "score": 0.5, "token": 1, "token_str": "joy"}],
                  lambda o: o[0].token_str == "joy"),
    "image-classification": ([{"label": "cat", "score": 0.9}], lambda o: o[0].label == "cat"),
    "image-segmentation": ([{"label": "cat", "score": 0.9, "mask": MASK}], lambda o: o[0].mask.size == (4, 3)),
    "image-to-image": ((PNG, "image/png"), lambda o: o.size == (4, 3)),
    "image-to-text": ([{"generated_text": "a cat"}], lambda o: o.generated_text == "a cat"),
    "object-detection": ([{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}],
                         lambda o: o[0].box.xmax == 3),
    "question-answering": ({"answer": "Paris", "score": 0.9, "start": 3, "end": 8},
                           lambda o: (o[0] if isinstance(o, list) else o).answer == "Paris"),
    "sentence-similarity": ([0.9, 0.1], lambda o: o == [0.9, 0.1]),
    "summarization": ([{"summary_text": "short"}], lambda o: o.summary_text == "short"),
    "table-question-answering": ({"answer": "7", "coordinates": [[0, 1]], "cells": ["7"], "aggregator": "NONE"},
                                 lambda o: o.answer == "7"),
    "tabular-classification": ([5, 6], lambda o: o == [5, 6]),
    "text-classification": ([[{"label": "POSITIVE", "score": 0.9}]], lambda o: o[0].label == "POSITIVE"),
    "text-to-image": ((PNG, "image/png"), lambda o: o.size == (4, 3)),
    "text-to-speech": ((WAV, "audio/wav"), lambda o: o == WAV),
    "token-classification": ([{"entity_group": "PER", "score": 0.9, "word": "Sarah", "start": 11, "end": 16}],
                             lambda o: o[0].word == "Sarah"),
    "translation": ([{"translation_text": "Hallo"}], lambda o: o.translation_text == "Hallo"),
    "visual-question-answering": ([{"answer": "2", "score": 0.9}], lambda o: o[0].answer == "2"),
    "zero-shot-classification": ([{"label": "refund", "score": 0.8}, {"label": "faq", "score": 0.2}],
                                 lambda o: o[0].label == "refund"),
    "zero-shot-image-classification": ([{"label": "cat", "score": 0.9}], lambda o: o[0].label == "cat"),
}
#: served by hf-inference through /v1/completions, not the task route (see test_tasks.py)
NOT_HERE = {"text-generation"}


def test_every_hf_inference_task_is_covered() -> None:
    assert set(ANSWERS) == set(CALLS) - NOT_HERE


def reply(task: str) -> Any:
    answer = ANSWERS[task][0]
    if isinstance(answer, tuple):
        return json_reply(answer[0], content_type=answer[1])
    return json_reply(answer)


def config(hf: MockProvider, task: str) -> str:
    return f"""
server: {{master_key: {MASTER}}}
huggingface: {{token: hf_upstream_token_9, base_url: "{hf.url}", live_catalog: false}}
models:
  - {{id: org/model, task: {task}, providers: [{{provider: hf-inference}}]}}
"""


@pytest.mark.parametrize("task", sorted(ANSWERS))
async def test_server_side_routing(task: str, mocks: Mocks, router: RouterFactory,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(reply(task))
    r = await router.start(config(hf, task))

    def call() -> Any:
        return CALLS[task](InferenceClient(model=f"{r.url}/models/org/model", api_key=MASTER))

    out = await asyncio.to_thread(call)
    assert ANSWERS[task][1](out), out
    sent = hf.received[0]
    assert sent.path.startswith("/hf-inference/models/org/model")
    assert sent.headers["Authorization"] == "Bearer hf_upstream_token_9"  # never the caller's key
    assert_sent_as_huggingface_hub_sends(sent, hub_request(monkeypatch, CALLS[task]))


def assert_sent_as_huggingface_hub_sends(sent: Received, theirs: Any) -> None:
    """hf-inference received what huggingface_hub sends it itself for the same call on `org/model`."""
    assert sent.path == urlsplit(theirs.url).path
    assert sent.headers["Content-Type"] == theirs.headers.get("content-type", sent.headers["Content-Type"])
    assert wire(sent.body) == wire(theirs.data if theirs.json is None else orjson.dumps(theirs.json))


async def test_table_question_answering_with_the_model_passed_per_call(mocks: Mocks, router: RouterFactory,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub puts a model given to the call in `parameters.model`; hf-inference gets the Hub id
    task = "table-question-answering"
    hf = await mocks.start("hf")
    hf.enqueue(reply(task))
    r = await router.start(config(hf, task))

    def call(model: str) -> Any:
        return lambda c: c.table_question_answering(REPOS, "How many stars?", model=model, truncation=True)

    out = await asyncio.to_thread(call(f"{r.url}/models/org/model"), InferenceClient(api_key=MASTER))
    assert ANSWERS[task][1](out), out
    assert_sent_as_huggingface_hub_sends(hf.received[0], hub_request(monkeypatch, call("org/model")))
    assert hf.received[0].json["parameters"] == {"model": "org/model", "truncation": True}


@pytest.mark.parametrize("task", sorted(ANSWERS))
async def test_hf_router_compatibility(task: str, mocks: Mocks, router: RouterFactory,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.hf_api import InferenceProviderMapping
    from huggingface_hub.inference import _providers
    from huggingface_hub.inference._providers import _common, hf_inference

    hf = await mocks.start("hf")
    hf.enqueue(reply(task))
    r = await router.start(config(hf, task))
    monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", r.url + "/{provider}")
    mapping = {"org/model": InferenceProviderMapping(provider="hf-inference", hf_model_id="org/model",
                                                      providerId="org/model", task=task, status="live")}
    monkeypatch.setitem(_common.HARDCODED_MODEL_INFERENCE_MAPPING, "hf-inference", mapping)
    # hf-inference's helpers read the router URL when huggingface_hub is imported: point them too
    for helper in _providers.PROVIDERS["hf-inference"].values():
        monkeypatch.setattr(helper, "base_url", r.url + "/hf-inference")
    # the client asks the Hub (not the router) whether the model has this pipeline tag: no Hub here
    monkeypatch.setattr(hf_inference, "_check_supported_task", lambda model, task: None)

    def call() -> Any:
        return CALLS[task](InferenceClient(provider="hf-inference", model="org/model", api_key=MASTER))

    out = await asyncio.to_thread(call)
    assert ANSWERS[task][1](out), out
    sent = hf.received[0]
    assert sent.path.startswith("/hf-inference/models/org/model")
    assert sent.headers["Authorization"] == "Bearer hf_upstream_token_9"
