"""wavespeed. The recorded tapes hold no WaveSpeed traffic: the answers below follow WaveSpeed's API
reference (`{code, message, data: {id, model, outputs, urls: {get}, status, error, ...}}`)."""

from __future__ import annotations

from typing import Any

import pytest

from hubroute.errors import ProviderResponseError
from hubroute.inputs import Binary
from hubroute.providers import CHAT, REGISTRY, Endpoint

from .helpers import DIRECT_KEY, HF_KEY, HF_ROUTER, direct, via_hf
from .job_steps import PNG, body, done_media, hf_request, is_download, start, uri, walk

P = REGISTRY["wavespeed"]
MOCK = Endpoint(base_url="http://127.0.0.1:9999", api_key=DIRECT_KEY)
TASKS = ("text-to-image", "text-to-video", "image-to-image", "image-to-video")
JOB = "3f2b6c1a9d8e4f7a"
GET = f"https://api.wavespeed.ai/api/v3/predictions/{JOB}/result"


def job(status: str, outputs: list[str] | None = None, error: str = "") -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": {
        "id": JOB, "model": "wavespeed-ai/flux-dev", "outputs": outputs or [], "urls": {"get": GET},
        "has_nsfw_contents": [], "status": status, "created_at": "2025-05-01T10:00:00.000Z", "error": error,
        "timings": {"inference": 0}}}


def test_identity():
    assert P.base_url == "https://api.wavespeed.ai"
    assert P.env_keys == ("WAVESPEED_API_KEY",)
    assert P.hf_routed is True and P.auth_scheme == "Bearer"
    assert P.tasks == frozenset(TASKS)
    assert not P.supports(CHAT)


@pytest.mark.parametrize("task", TASKS)
def test_requests_match_huggingface_hub(task: str, monkeypatch: pytest.MonkeyPatch):
    image = task.startswith("image")
    inputs: Any = Binary(PNG, "image/jpeg") if image else "a fox in the snow"  # hf_hub labels bytes jpeg
    params = {"prompt": "make it winter", "seed": 1} if image else {"seed": 1, "num_inference_steps": 8}
    for key, endpoint in (("k", Endpoint("https://api.wavespeed.ai", "k")), (HF_KEY, via_hf(P))):
        theirs = hf_request(monkeypatch, "wavespeed", task, inputs.data if image else inputs, params,
                            provider_id="wavespeed-ai/flux-dev", api_key=key)
        ours = start(P, endpoint, task, inputs, params, provider_model="wavespeed-ai/flux-dev").request
        assert (ours.method, ours.url) == ("POST", theirs.url)
        assert body(ours) == theirs.json
        assert ours.headers["authorization"] == theirs.headers["authorization"]


def test_urls_and_bodies():
    req = start(P, direct(P), "text-to-video", "a fox", provider_model="wavespeed-ai/wan-2.1/t2v-480p").request
    assert req.url == "https://api.wavespeed.ai/api/v3/wavespeed-ai/wan-2.1/t2v-480p"
    assert req.headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert body(req) == {"prompt": "a fox"}
    req = start(P, via_hf(P), "image-to-video", Binary(PNG, "image/png"), {"prompt": "it runs"},
                provider_model="wavespeed-ai/wan-2.1/i2v-480p").request
    assert req.url == f"{HF_ROUTER}/wavespeed/api/v3/wavespeed-ai/wan-2.1/i2v-480p"
    assert req.headers["authorization"] == f"Bearer {HF_KEY}"
    assert body(req) == {"image": uri(PNG, "image/png"), "prompt": "it runs"}


@pytest.mark.parametrize(("endpoint", "root"), [
    (direct(P), "https://api.wavespeed.ai"), (via_hf(P), f"{HF_ROUTER}/wavespeed"), (MOCK, "http://127.0.0.1:9999"),
])
@pytest.mark.parametrize("task", TASKS)
def test_job_is_polled_then_its_output_downloaded(task: str, endpoint: Endpoint, root: str):
    inputs: Any = Binary(PNG, "image/png") if task.startswith("image") else "a fox"
    first = start(P, endpoint, task, inputs, provider_model="wavespeed-ai/flux-dev")
    out = "https://d1q70pf5vjeyhc.cloudfront.net/predictions/x/1.png"
    steps, last = walk(first, job("created"), job("processing"), job("completed", [out]))
    polls = steps[1:-1]
    assert [(s.request.method, s.request.url, s.poll) for s in polls] == \
        [("GET", f"{root}/api/v3/predictions/{JOB}/result", True)] * 2
    assert all(s.request.headers["authorization"] == f"Bearer {endpoint.api_key}" for s in polls)
    assert is_download(last, out)


def test_finished_at_once_and_inline_output():
    _, last = walk(start(P, direct(P), "text-to-image", "x"), job("completed", ["https://cdn/a.png"]))
    assert is_download(last, "https://cdn/a.png")
    _, last = walk(start(P, direct(P), "text-to-image", "x"), job("completed", [uri(PNG, "image/png")]))
    assert done_media(last).data == PNG


@pytest.mark.parametrize(("answers", "match"), [
    ([job("created"), job("failed", error="prompt rejected by the safety checker")], "safety checker"),
    ([job("failed")], "no reason given"),
    ([job("completed", [])], "data.outputs.0"),
    ([job("exploded")], "exploded"),
    ([{"code": 400, "message": "Insufficient credits", "data": None}], "Insufficient credits"),
    ([{"code": 200, "message": "success"}], "'data'"),
    ([{"code": 200, "data": {"status": "created", "urls": {"get": ""}}}], "status URL"),
])
def test_failures_are_provider_errors(answers: list[Any], match: str):
    with pytest.raises(ProviderResponseError, match=match) as info:
        walk(start(P, direct(P), "text-to-image", "x"), *answers)
    assert info.value.provider == "wavespeed"
