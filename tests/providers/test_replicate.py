from __future__ import annotations

import copy
from typing import Any

import pytest

from hubroute.errors import ProviderResponseError
from hubroute.inputs import Binary
from hubroute.providers import CHAT, REGISTRY, Endpoint
from hubroute.providers.steps import Done, Media, Next

from .helpers import DIRECT_KEY, HF_KEY, HF_ROUTER, direct, via_hf
from .job_steps import PNG, WAV, body, done_media, hf_request, is_download, start, uri, walk
from .tapes import all_tapes, tapes

P = REGISTRY["replicate"]
MOCK = Endpoint(base_url="http://127.0.0.1:9999", api_key=DIRECT_KEY)
TASKS = ("text-to-image", "text-to-speech", "text-to-video", "image-to-image", "automatic-speech-recognition")
VERSION = "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637"
PRED = "https://api.replicate.com/v1/predictions/t6p3z973p9rj60cmjfcavckd18"


def inputs_for(task: str) -> Any:
    if task == "automatic-speech-recognition":
        return Binary(WAV, "audio/wav")  # huggingface_hub labels any audio bytes audio/wav
    if task == "image-to-image":
        return Binary(PNG, "image/jpeg")  # ... and any image bytes image/jpeg
    return "a lighthouse at dusk"


def prediction(status: str, output: Any = None, error: Any = None, url: str = PRED) -> dict[str, Any]:
    return {"id": url.rsplit("/", 1)[1], "model": "owner/model", "version": "v", "input": {}, "logs": "",
            "output": output, "error": error, "status": status, "created_at": "2025-01-23T15:47:32.402Z",
            "urls": {"cancel": f"{url}/cancel", "get": url, "stream": "https://stream.replicate.com/v1/files/x"}}


def test_identity():
    assert P.base_url == "https://api.replicate.com"
    assert P.env_keys == ("REPLICATE_API_TOKEN",)
    assert P.hf_routed is True
    assert P.tasks == frozenset(TASKS)
    assert not P.supports(CHAT)
    assert P.extra_headers == {"prefer": "wait"}


def test_routes_for_models_and_versions():
    req = start(P, direct(P), "text-to-image", "a cat", provider_model="black-forest-labs/flux-schnell").request
    assert req.url == "https://api.replicate.com/v1/models/black-forest-labs/flux-schnell/predictions"
    assert req.headers["authorization"] == f"Bearer {DIRECT_KEY}" and req.headers["prefer"] == "wait"
    assert body(req) == {"input": {"prompt": "a cat"}}
    pinned = start(P, via_hf(P), "text-to-image", "a cat", provider_model=f"bytedance/sdxl-lightning-4step:{VERSION}")
    assert pinned.request.url == f"{HF_ROUTER}/replicate/v1/predictions"
    assert pinned.request.headers["authorization"] == f"Bearer {HF_KEY}"
    assert body(pinned.request) == {"input": {"prompt": "a cat"}, "version": VERSION}


@pytest.mark.parametrize("pid", ["owner/model", f"owner/model:{VERSION}"])
@pytest.mark.parametrize("task", TASKS)
def test_requests_match_huggingface_hub(task: str, pid: str, monkeypatch: pytest.MonkeyPatch):
    params: dict[str, Any] = {"seed": 7, "num_inference_steps": 4} if task != "automatic-speech-recognition" \
        else {"return_timestamps": True}
    for key, endpoint in (("k", Endpoint("https://api.replicate.com", "k")), (HF_KEY, via_hf(P))):
        inputs = inputs_for(task)
        raw = inputs.data if isinstance(inputs, Binary) else inputs
        theirs = hf_request(monkeypatch, "replicate", task, raw, params, provider_id=pid, api_key=key)
        ours = start(P, endpoint, task, inputs, params, provider_model=pid).request
        assert (ours.method, ours.url) == ("POST", theirs.url)
        assert body(ours) == theirs.json
        assert ours.headers["authorization"] == theirs.headers["authorization"]
        assert ours.headers["prefer"] == theirs.headers["prefer"] == "wait"


def test_lora_weights_name_the_hub_repository(monkeypatch: pytest.MonkeyPatch):
    extra = {"adapter": "lora", "adapter_weights_path": "lora.safetensors"}
    req = start(P, direct(P), "text-to-image", "a cat", provider_model="black-forest-labs/flux-dev-lora",
                model="alvdansen/frosting_lane_flux", extra=extra).request
    assert body(req) == {"input": {"prompt": "a cat", "lora_weights": "https://huggingface.co/alvdansen/frosting_lane_flux"}}
    theirs = hf_request(monkeypatch, "replicate", "text-to-image", "a cat",
                        provider_id="black-forest-labs/flux-dev-lora", hub_id="alvdansen/frosting_lane_flux",
                        adapter_weights_path="lora.safetensors")
    assert body(req) == theirs.json


def _recorded() -> list[Any]:
    urls = sorted({t.url for t in all_tapes() if t.url.startswith("https://api.replicate.com/")})
    return [t for url in urls for t in tapes(url, status=201)]


def test_recorded_predictions_replay():
    """Every recorded successful prediction: the same request rebuilt, its answer leading to the file."""
    replayed = 0
    for tape in _recorded():
        sent = tape.request_json
        answer = tape.response_json()
        if set(sent["input"]) - {"prompt", "text"}:
            continue  # an older client's body (`inputs`), not what an HF task call sends
        task = "text-to-speech" if "text" in sent["input"] else "text-to-image"
        pid = answer["model"] + (f":{sent['version']}" if "version" in sent else "")
        first = start(P, direct(P), task, next(iter(sent["input"].values())), provider_model=pid)
        assert first.request.url == tape.url
        assert body(first.request) == sent
        # Prefer: wait answered with the file while the prediction still says `processing`
        assert answer["status"] == "processing"
        output = answer["output"]
        _, last = walk(first, copy.deepcopy(answer))
        assert is_download(last, output if isinstance(output, str) else output[0])
        replayed += 1
    assert replayed == 9


@pytest.mark.parametrize(("endpoint", "root"), [
    (direct(P), "https://api.replicate.com"), (via_hf(P), f"{HF_ROUTER}/replicate"), (MOCK, "http://127.0.0.1:9999"),
])
def test_unfinished_prediction_is_polled_on_the_endpoint(endpoint: Endpoint, root: str):
    first = start(P, endpoint, "text-to-video", "a cat", provider_model="owner/video-model")
    video = "https://replicate.delivery/xezq/abc/output.mp4"
    steps, last = walk(first, prediction("starting"), prediction("processing"), prediction("succeeded", video))
    polls = steps[1:-1]
    assert [(s.request.method, s.request.url, s.poll) for s in polls] == \
        [("GET", f"{root}/v1/predictions/t6p3z973p9rj60cmjfcavckd18", True)] * 2
    assert all(s.request.headers["authorization"] == f"Bearer {endpoint.api_key}" for s in polls)
    assert is_download(last, video)


def test_outputs_as_list_string_or_inline():
    for output in (["https://r/x.png", "https://r/y.png"], "https://r/x.png"):
        _, last = walk(start(P, direct(P), "text-to-image", "x"), prediction("succeeded", output))
        assert is_download(last, "https://r/x.png")
    _, last = walk(start(P, direct(P), "image-to-image", Binary(PNG, "image/png")),
                   prediction("succeeded", uri(PNG, "image/png")))
    assert done_media(last).data == PNG


@pytest.mark.parametrize(("output", "text"), [
    ("hello there", "hello there"),
    (["hello there"], "hello there"),
    ({"transcription": "bonjour", "segments": [], "txt_file": None}, "bonjour"),
    ({"transcription": "bonjour", "translation": "hello"}, "hello"),
    ([{"transcription": "hi"}], "hi"),
])
def test_speech_recognition_text(output: Any, text: str):
    first = start(P, direct(P), "automatic-speech-recognition", Binary(WAV, "audio/wav"),
                  provider_model="openai/whisper:abc")
    assert body(first.request) == {"input": {"audio": uri(WAV, "audio/wav")}, "version": "abc"}
    # text still being written while `processing` is not the answer yet
    steps, last = walk(first, prediction("processing", "hel"), prediction("succeeded", output))
    assert steps[1].poll
    assert last.value == {"text": text}  # type: ignore[union-attr]


def test_a_transcript_given_only_as_a_file_is_fetched():
    first = start(P, direct(P), "automatic-speech-recognition", Binary(WAV, "audio/wav"))
    _, fetch = walk(first, prediction("succeeded", {"txt_file": "https://r/t.txt"}))
    assert isinstance(fetch, Next) and fetch.raw
    assert (fetch.request.url, fetch.request.headers) == ("https://r/t.txt", {})
    assert fetch.parse(Media(b"hello there", "text/plain")) == Done({"text": "hello there"})


@pytest.mark.parametrize(("task", "answer", "match"), [
    ("text-to-image", prediction("failed", None, "CUDA out of memory"), "CUDA out of memory"),
    ("text-to-image", prediction("canceled"), "canceled"),
    ("text-to-image", prediction("succeeded", None), "no output"),
    ("text-to-image", prediction("succeeded", []), "URL"),
    ("text-to-image", prediction("mystery"), "mystery"),
    ("text-to-image", {"status": "starting", "urls": {}}, "urls.get"),
    ("text-to-image", ["not", "a", "prediction"], "not a prediction"),
    ("automatic-speech-recognition", prediction("succeeded", {"srt_file": "https://r/t.srt"}), "transcription"),
])
def test_failures_are_provider_errors(task: str, answer: Any, match: str):
    inputs = Binary(WAV, "audio/wav") if task == "automatic-speech-recognition" else "x"
    with pytest.raises(ProviderResponseError, match=match) as info:
        walk(start(P, direct(P), task, inputs), answer)
    assert info.value.provider == "replicate"
