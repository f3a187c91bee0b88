from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from hubroute.errors import NotSupported, ProviderResponseError
from hubroute.inputs import Binary
from hubroute.providers import CHAT, REGISTRY, Endpoint
from hubroute.providers.steps import Done, Media, Next, TaskCall

from .helpers import DIRECT_KEY, HF_KEY, HF_ROUTER, direct, via_hf
from .job_steps import MPEG, PNG, b64, body, done_media, hf_request, is_download, start, uri, walk
from .tapes import tapes

P = REGISTRY["fal-ai"]
MOCK = Endpoint(base_url="http://127.0.0.1:9999", api_key=DIRECT_KEY)
SYNC = ("automatic-speech-recognition", "text-to-image", "text-to-speech")
QUEUED = ("text-to-video", "image-to-video", "image-to-image", "image-segmentation")
VIDEO = b"\x00\x00\x00\x18ftypmp42"


def inputs_for(task: str) -> Any:
    if task == "automatic-speech-recognition":
        return Binary(MPEG, "audio/mpeg")  # huggingface_hub labels any audio audio/mpeg
    if task == "image-segmentation":
        return Binary(PNG, "image/png")
    if task in ("image-to-image", "image-to-video"):
        return Binary(PNG, "image/jpeg")  # ... and any image image/jpeg (image/png for segmentation)
    return "a lighthouse at dusk"


def test_identity():
    assert P.base_url == "https://fal.run"
    assert P.queue_url == "https://queue.fal.run"
    assert P.env_keys == ("FAL_KEY",)
    assert P.auth_scheme == "Key"
    assert P.hf_routed is True
    assert P.tasks == frozenset(SYNC + QUEUED)
    assert P.queued == frozenset(QUEUED)
    assert not P.supports(CHAT)
    with pytest.raises(NotSupported):
        start(P, direct(P), "text-classification", "x")


@pytest.mark.parametrize("task", SYNC + QUEUED)
def test_requests_match_huggingface_hub(task: str, monkeypatch: pytest.MonkeyPatch):
    """Same URL, auth and body as huggingface_hub's fal helper, with a direct key and through HF."""
    params: dict[str, Any] = {
        "text-to-image": {"width": 512, "height": 768, "seed": 3, "num_inference_steps": 4},
        "image-to-image": {"prompt": "make it blue", "target_size": {"width": 64, "height": 32}},
        "image-to-video": {"prompt": "it moves", "num_frames": 16},
        "text-to-video": {"num_inference_steps": 10},
        "image-segmentation": {"threshold": 0.5},
        "automatic-speech-recognition": {"return_timestamps": True},
        "text-to-speech": {},
    }[task]
    pid = "fal-ai/some-model/v2"
    for key, endpoint in (("k", Endpoint("https://fal.run", "k")), (HF_KEY, via_hf(P))):
        inputs = inputs_for(task)
        raw = inputs.data if isinstance(inputs, Binary) else inputs  # huggingface_hub takes the bytes
        theirs = hf_request(monkeypatch, "fal-ai", task, raw, params, provider_id=pid, api_key=key)
        ours = start(P, endpoint, task, inputs, params, provider_model=pid).request
        assert ours.method == "POST"
        assert ours.url == theirs.url
        assert body(ours) == theirs.json
        assert ours.headers["authorization"] == theirs.headers["authorization"]
        assert ours.headers["content-type"] == "application/json"


def test_urls_and_auth():
    t2i = start(P, direct(P), "text-to-image", "a cat", provider_model="fal-ai/flux/dev").request
    assert t2i.url == "https://fal.run/fal-ai/flux/dev"
    assert t2i.headers["authorization"] == f"Key {DIRECT_KEY}"
    video = start(P, direct(P), "text-to-video", "a cat", provider_model="fal-ai/ltx-video").request
    assert video.url == "https://queue.fal.run/fal-ai/ltx-video"
    hf = start(P, via_hf(P), "text-to-video", "a cat", provider_model="fal-ai/ltx-video").request
    assert hf.url == f"{HF_ROUTER}/fal-ai/fal-ai/ltx-video?_subdomain=queue"
    assert hf.headers["authorization"] == f"Bearer {HF_KEY}"
    # an overridden base URL (a mock, a proxy) takes both APIs
    assert start(P, MOCK, "text-to-video", "x", provider_model="fal-ai/ltx-video").request.url == \
        "http://127.0.0.1:9999/fal-ai/ltx-video"
    assert start(P, MOCK, "text-to-image", "x", provider_model="fal-ai/flux/dev").request.url == \
        "http://127.0.0.1:9999/fal-ai/flux/dev"


def test_lora_adapter(monkeypatch: pytest.MonkeyPatch):
    extra = {"adapter": "lora", "adapter_weights_path": "pixel-art-xl.safetensors"}
    req = start(P, direct(P), "text-to-image", "pixel, a cute corgi", provider_model="fal-ai/lora",
                model="nerijs/pixel-art-xl", extra=extra).request
    assert body(req) == {
        "prompt": "pixel, a cute corgi",
        "loras": [{"path": "https://huggingface.co/nerijs/pixel-art-xl/resolve/main/pixel-art-xl.safetensors",
                   "scale": 1}],
        "model_name": "stabilityai/stable-diffusion-xl-base-1.0",
    }
    theirs = hf_request(monkeypatch, "fal-ai", "text-to-image", "pixel, a cute corgi", provider_id="fal-ai/lora",
                        hub_id="nerijs/pixel-art-xl", adapter_weights_path="pixel-art-xl.safetensors")
    assert body(req) == theirs.json
    # the recorded successful LoRA call sent the same fields
    recorded = tapes("https://fal.run/fal-ai/lora", status=200)[0].request_json
    assert recorded["loras"] == body(req)["loras"] and recorded["model_name"] == body(req)["model_name"]
    flux = start(P, direct(P), "text-to-video", "x", provider_model="fal-ai/flux-lora", model="o/m", extra=extra)
    assert "model_name" not in body(flux.request) and body(flux.request)["loras"][0]["path"].startswith(
        "https://huggingface.co/o/m/resolve/main/")
    for task in ("image-to-image", "image-to-video"):
        b = body(start(P, direct(P), task, Binary(PNG, "image/png"), model="o/m", extra=extra).request)
        assert b["loras"][0]["scale"] == 1
    seg = body(start(P, direct(P), "image-segmentation", Binary(PNG, "image/png"), extra=extra).request)
    assert "loras" not in seg


# --- recorded sync traffic ----------------------------------------------------------------------------

def _sync_tapes(task: str) -> list[Any]:
    """The successful recorded fal.run calls of one sync task (speech recognition: whisper, wizper)."""
    from .tapes import all_tapes

    asr = task == "automatic-speech-recognition"
    urls = sorted({t.url for t in all_tapes() if t.url.startswith("https://fal.run/fal-ai/")
                   and t.url.endswith(("/whisper", "/wizper")) is asr})
    return [tape for url in urls for tape in tapes(url, status=None) if tape.status == 200]


def test_recorded_text_to_image_answers_lead_to_the_image():
    recorded = _sync_tapes("text-to-image")
    assert len(recorded) >= 15
    for tape in recorded:
        model = urlsplit(tape.url).path[1:]
        req = start(P, direct(P), "text-to-image", tape.request_json["prompt"], provider_model=model).request
        assert req.url == tape.url
        answer = tape.response_json()
        step = P.result(TaskCall("text-to-image", tape.request_json["prompt"]), answer)
        url = answer["images"][0]["url"]
        if url.startswith("data:"):
            media = done_media(step)
            assert media.content_type == "image/jpeg" and media.data.startswith(b"\xff\xd8")
        else:
            assert is_download(step, url)


def test_recorded_speech_recognition_answers():
    recorded = _sync_tapes("automatic-speech-recognition")
    assert len(recorded) == 3
    for tape in recorded:
        model = urlsplit(tape.url).path[1:]
        first = start(P, direct(P), "automatic-speech-recognition", Binary(MPEG, "audio/mpeg"), provider_model=model)
        assert first.request.url == tape.url
        assert body(first.request) == {"audio_url": uri(MPEG, "audio/mpeg")}
        _, done = walk(first, tape.response_json())
        assert isinstance(done, Done)
        assert done.value == {"text": tape.response_json()["text"]}
        assert "Frederick Leighton" in done.value["text"] or "frederick leighton" in done.value["text"]


def test_speech_recognition_timestamps_as_hf_chunks():
    tape = tapes("https://fal.run/fal-ai/whisper")[0]
    first = start(P, direct(P), "automatic-speech-recognition", Binary(MPEG, "audio/mpeg"),
                  {"return_timestamps": True}, provider_model="fal-ai/whisper")
    _, done = walk(first, tape.response_json())
    assert isinstance(done, Done)
    assert done.value["chunks"] == [{"text": c["text"], "timestamp": c["timestamp"]}
                                    for c in tape.response_json()["chunks"]]


def test_text_to_speech_downloads_the_audio():
    first = start(P, direct(P), "text-to-speech", "hello", provider_model="fal-ai/kokoro")
    assert body(first.request) == {"text": "hello"}
    _, step = walk(first, {"audio": {"url": "https://v3.fal.media/files/x/speech.wav", "content_type": "audio/wav"}})
    assert is_download(step, "https://v3.fal.media/files/x/speech.wav")


@pytest.mark.parametrize("answer", [
    {"images": []}, {"images": [{"url": None}]}, {"detail": "Unsupported data URL"}, [], None,
])
def test_unusable_sync_answers_are_errors(answer: Any):
    first = start(P, direct(P), "text-to-image", "x", provider_model="fal-ai/flux/dev")
    with pytest.raises(ProviderResponseError) as info:
        first.parse(answer)
    assert info.value.provider == "fal-ai"


# --- the queue -----------------------------------------------------------------------------------------

RID = "8c1d7f2e-4b6a-4d3e-9f10-1a2b3c4d5e6f"


def submitted(app: str = "fal-ai/ltx-video", status: str = "IN_QUEUE") -> dict[str, Any]:
    base = f"https://queue.fal.run/{app}/requests/{RID}"
    return {"status": status, "request_id": RID, "response_url": base, "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel", "queue_position": 0}


@pytest.mark.parametrize(("endpoint", "root", "query", "auth"), [
    (direct(P), "https://queue.fal.run", "", f"Key {DIRECT_KEY}"),
    (via_hf(P), f"{HF_ROUTER}/fal-ai", "?_subdomain=queue", f"Bearer {HF_KEY}"),
    (MOCK, "http://127.0.0.1:9999", "", f"Key {DIRECT_KEY}"),
])
def test_queue_job_submit_poll_result_download(endpoint: Endpoint, root: str, query: str, auth: str):
    first = start(P, endpoint, "text-to-video", "a cat", provider_model="fal-ai/ltx-video")
    assert first.request.url == f"{root}/fal-ai/ltx-video{query}"
    video = "https://v3.fal.media/files/rabbit/video.mp4"
    steps, last = walk(first, submitted(), {"status": "IN_QUEUE", "queue_position": 1},
                       {"status": "IN_PROGRESS", "logs": []}, {"status": "COMPLETED", "logs": []},
                       {"video": {"url": video, "content_type": "video/mp4"}, "seed": 1})
    status_url = f"{root}/fal-ai/ltx-video/requests/{RID}/status{query}"
    assert [(s.request.method, s.request.url, s.poll) for s in steps[1:-1]] == [
        ("GET", status_url, True), ("GET", status_url, True), ("GET", status_url, True),
        ("GET", f"{root}/fal-ai/ltx-video/requests/{RID}{query}", False),
    ]
    assert all(s.request.headers["authorization"] == auth for s in steps[1:-1])
    assert all(s.request.body is None for s in steps[1:])
    assert is_download(last, video)


def test_queue_paths_follow_the_response_url_not_the_model_sub_path():
    first = start(P, direct(P), "image-to-image", Binary(PNG, "image/png"), provider_model="fal-ai/flux-kontext/dev")
    steps, last = walk(first, submitted("fal-ai/flux-kontext"), {"status": "COMPLETED"},
                       {"images": [{"url": "https://v3.fal.media/files/a.png"}]})
    assert steps[1].request.url == f"https://queue.fal.run/fal-ai/flux-kontext/requests/{RID}/status"
    assert steps[2].request.url == f"https://queue.fal.run/fal-ai/flux-kontext/requests/{RID}"
    assert is_download(last, "https://v3.fal.media/files/a.png")
    # no response_url: the app is the id's first two segments
    first = start(P, direct(P), "image-to-video", Binary(PNG, "image/png"), provider_model="fal-ai/wan/v2.2/i2v")
    steps, _ = walk(first, {"request_id": RID, "status": "IN_QUEUE"})
    assert steps[1].request.url == f"https://queue.fal.run/fal-ai/wan/requests/{RID}/status"


def test_queue_results_per_task():
    cases = {
        "image-to-video": ({"video": {"url": "https://f/v.mp4"}}, "https://f/v.mp4"),
        "image-to-image": ({"images": [{"url": "https://f/i.png"}]}, "https://f/i.png"),
    }
    for task, (result, url) in cases.items():
        first = start(P, direct(P), task, Binary(PNG, "image/png"))
        _, last = walk(first, submitted(), {"status": "COMPLETED"}, result)
        assert is_download(last, url)
    inline = uri(PNG, "image/png")
    _, last = walk(start(P, direct(P), "image-to-image", Binary(PNG, "image/png")), submitted(),
                   {"status": "COMPLETED"}, {"images": [{"url": inline}]})
    assert done_media(last).data == PNG


def test_segmentation_mask_as_huggingface_hub_reports_it():
    first = start(P, direct(P), "image-segmentation", Binary(PNG, "image/png"), provider_model="fal-ai/birefnet")
    assert body(first.request) == {"image_url": uri(PNG, "image/png"), "sync_mode": True}
    mask = b"\x89PNG\r\n\x1a\nmask"
    _, last = walk(first, submitted("fal-ai/birefnet"), {"status": "COMPLETED"},
                   {"image": {"url": uri(mask, "image/png"), "width": 8, "height": 8}})
    assert isinstance(last, Done) and last.value == [{"label": "mask", "mask": b64(mask)}]
    # a mask fal answers as a URL is fetched (no credentials) and embedded the same way
    _, fetch = walk(start(P, direct(P), "image-segmentation", Binary(PNG, "image/png")), submitted(),
                    {"status": "COMPLETED"}, {"image": {"url": "https://f/mask.png"}})
    assert isinstance(fetch, Next) and fetch.raw and not fetch.poll
    assert (fetch.request.method, fetch.request.url, fetch.request.headers) == ("GET", "https://f/mask.png", {})
    assert fetch.parse(Media(mask, "image/png")) == Done([{"label": "mask", "mask": b64(mask)}])


@pytest.mark.parametrize(("answers", "match"), [
    ([{"status": "IN_QUEUE"}], "request_id"),  # submit without a request id
    ([submitted(), {"status": "FAILED", "error": "out of memory"}], "FAILED"),
    ([submitted(), {"status": "COMPLETED", "error": "Internal error", "error_type": "runner"}], "Internal error"),
    ([submitted(), {"status": "IN_PROGRESS"}, {"nothing": True}], "status"),
    ([submitted(), {"status": "COMPLETED"}, {"video": {}}], "video.url"),
    ([submitted(), {"status": "COMPLETED"}, {"detail": "content policy violation"}], "content policy"),
])
def test_queue_failures_are_provider_errors(answers: list[Any], match: str):
    first = start(P, direct(P), "text-to-video", "x")
    with pytest.raises(ProviderResponseError, match=match) as info:
        walk(first, *answers)
    assert info.value.provider == "fal-ai"


# --- huggingface_hub's HF-router URLs through hubroute's /fal-ai/... route -----------------------------

@pytest.mark.parametrize(("endpoint", "route", "query", "expected"), [
    # called directly: the queue host, the marker dropped (other query parameters kept)
    (direct(P), "fal-ai/ltx-video", "_subdomain=queue", "https://queue.fal.run/fal-ai/ltx-video"),
    (direct(P), "fal-ai/ltx-video/requests/r1/status", "_subdomain=queue&logs=1",
     "https://queue.fal.run/fal-ai/ltx-video/requests/r1/status?logs=1"),
    # huggingface_hub's status URL on a non-HF host lost the 'fal-ai' owner to the provider prefix
    (direct(P), "ltx-video/requests/r1/status", "_subdomain=queue",
     "https://queue.fal.run/fal-ai/ltx-video/requests/r1/status"),
    (direct(P), "ltx-video/requests/r1", "_subdomain=queue", "https://queue.fal.run/fal-ai/ltx-video/requests/r1"),
    (MOCK, "fal-ai/ltx-video", "_subdomain=queue", "http://127.0.0.1:9999/fal-ai/ltx-video"),
    # the sync API is untouched
    (direct(P), "fal-ai/flux/dev", "", "https://fal.run/fal-ai/flux/dev"),
    # through HF's router: unchanged (but the owner restored)
    (via_hf(P), "fal-ai/ltx-video", "_subdomain=queue", f"{HF_ROUTER}/fal-ai/fal-ai/ltx-video?_subdomain=queue"),
    (via_hf(P), "ltx-video/requests/r1/status", "_subdomain=queue",
     f"{HF_ROUTER}/fal-ai/fal-ai/ltx-video/requests/r1/status?_subdomain=queue"),
    (via_hf(P), "fal-ai/flux/dev", "", f"{HF_ROUTER}/fal-ai/fal-ai/flux/dev"),
])
def test_passthrough_urls(endpoint: Endpoint, route: str, query: str, expected: str):
    assert P.passthrough_url(endpoint, route, query) == expected
