"""Media and job tasks (text-to-video, image-to-video, image-to-image, text-to-speech, ASR,
segmentation...) through the queue and prediction providers — fal-ai, replicate, wavespeed, mocks
speaking their wire formats — with the client, in both modes: the same calls huggingface_hub makes
(`Case.sdk`), the same outputs (`Case.sdk_check`), the same provider exchanges as the router's own
end-to-end tests (`Case.paths`: submit, polls, result download)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hubroute.client import AsyncInferenceClient, image_generation, transcription
from hubroute.config import Settings
from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import header
from tests.e2e.test_tasks_jobs import CASES, IDS, KEYS, MASTER, MP3, PNG, SCHEME, Case, config


async def client_for(mode: str, case: Case, conf: str, router: RouterFactory) -> AsyncInferenceClient:
    if mode == "routed":
        running = await router.start(conf)
        return AsyncInferenceClient(case.model, base_url=running.url, api_key=MASTER, environ={})
    return AsyncInferenceClient(case.model, config=Settings.parse(conf, {}), environ={})


@pytest.mark.parametrize("mode", ["routed", "direct"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_media_task(case: Case, mode: str, mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start(case.provider)
    mock.enqueue(*case.replies(mock.url))
    client = await client_for(mode, case, config(case, mocks={case.provider: mock}), router)
    output = await case.sdk(client)  # type: ignore[arg-type]
    await client.close()
    assert case.sdk_check(output), output
    assert [m.path for m in mock.received] == case.paths
    submit = mock.received[0]
    assert header(submit, "authorization") == f"{SCHEME[case.provider]} {KEYS[case.provider]}"


async def test_litellm_image_generation_and_transcription(mocks: Mocks, router: RouterFactory) -> None:
    """LiteLLM's image_generation() and transcription() over the same jobs, through a router."""
    import asyncio

    image = next(c for c in CASES if c.id == "fal-ai-text-to-image")
    speech = next(c for c in CASES if c.id == "fal-ai-automatic-speech-recognition")
    mock = await mocks.start("fal-ai")
    mock.enqueue(*image.replies(mock.url), *speech.replies(mock.url))
    running = await router.start(config(image, speech, mocks={"fal-ai": mock}))

    def run() -> tuple[Any, Any]:
        generated = image_generation("a lighthouse", model=image.model, api_base=running.url, api_key=MASTER,
                                     seed=1)
        heard = transcription(model=f"huggingface/fal-ai/{speech.model}", file=MP3, api_base=running.url,
                              api_key=MASTER)
        return generated, heard

    generated, heard = await asyncio.to_thread(run)
    assert base64.b64decode(generated.data[0].b64_json) == PNG
    assert generated.provider == "fal-ai"
    assert heard.text == "hello there" and heard["text"] == "hello there"
    assert mock.received[0].json["seed"] == 1
