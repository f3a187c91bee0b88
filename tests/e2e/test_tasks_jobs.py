"""The queue and prediction providers end to end: fal-ai (sync API and queue), replicate (predictions,
`Prefer: wait`, polling) and wavespeed (jobs), each a mock on a real socket speaking the provider's
wire format, behind a real router.

* server-side routing, `POST /models/{org}/{model}`: every provider x task, the job flows included
  (submit, IN_PROGRESS polls, result, the result URL downloaded from the mock);
* a job that never finishes fails as a timeout within `jobs.max_wait` (and fails over); a result URL
  that answers 404 or drops the connection is a 502 naming the provider;
* huggingface_hub's InferenceClient(provider=...) with its router URL pointed at hubroute, through the
  `/{provider}/...` passthrough, for every provider x task.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import yaml
from huggingface_hub import InferenceClient, constants
from PIL import Image

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import header
from tests.mocks import MockProvider, Reply, drop, json_reply

MASTER = "hf_hubroute_master_key_1"  # an hf_-style key: huggingface_hub then uses the router URL
AUTH = {"authorization": f"Bearer {MASTER}"}
KEYS = {"fal-ai": "fal-key-123", "replicate": "r8_replicate_key", "wavespeed": "ws-key-456"}
SCHEME = {"fal-ai": "Key", "replicate": "Bearer", "wavespeed": "Bearer"}
RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"
JOBS = {"poll_interval": 0.01, "max_poll_interval": 0.05}


def _png(size: tuple[int, int] = (4, 3)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
MASK = _png((4, 3))
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(64)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64)


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


# --- each provider's wire format --------------------------------------------------------------------

def fal_queue(pid: str, result: dict[str, Any], *, polls: int = 2) -> list[Reply]:
    """fal's queue: the submit, `polls` IN_PROGRESS statuses, COMPLETED, then the result document."""
    app = "/".join(pid.split("/")[:2])
    base = f"https://queue.fal.run/{app}/requests/{RID}"
    submit = {"status": "IN_QUEUE", "request_id": RID, "response_url": base, "status_url": f"{base}/status",
              "cancel_url": f"{base}/cancel", "queue_position": 0}
    return [json_reply(submit), *[json_reply({"status": "IN_PROGRESS", "logs": []})] * polls,
            json_reply({"status": "COMPLETED", "logs": []}), json_reply(result)]


def prediction(status: str, output: Any = None, pid: str = "x") -> dict[str, Any]:
    get = f"https://api.replicate.com/v1/predictions/{RID}"
    return {"id": RID, "model": pid, "version": "v", "input": {}, "logs": "", "output": output, "error": None,
            "status": status, "urls": {"get": get, "cancel": f"{get}/cancel"}}


def wavespeed_job(status: str, outputs: list[str] | None = None) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": {
        "id": RID, "model": "m", "outputs": outputs or [], "status": status, "error": "",
        "urls": {"get": f"https://api.wavespeed.ai/api/v3/predictions/{RID}/result"}}}


def file(data: bytes, content_type: str) -> Reply:
    """The mock serving a result file."""
    return json_reply(data, content_type=content_type)


@dataclass
class Case:
    provider: str
    task: str
    provider_id: str
    #: the server-side request: a JSON body, or (raw bytes, content type)
    request: Any
    #: the mock's replies, given its URL (result files are served by the mock too)
    replies: Callable[[str], list[Reply]]
    #: what the router answers: (bytes, content type), or JSON
    expected: Any
    #: the provider paths the router must have called, in order (the file download included)
    paths: list[str]
    #: huggingface_hub's call, and a check of its output
    sdk: Callable[[InferenceClient], Any]
    sdk_check: Callable[[Any], bool]
    #: the mock's replies to huggingface_hub, when they differ (it never polls a Replicate prediction:
    #: `Prefer: wait` must answer the output), and the paths then called
    sdk_replies: Callable[[str], list[Reply]] | None = None
    sdk_paths: list[str] | None = None
    #: the Hub model id (default: one per provider x task)
    hub_model: str | None = None

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.task}"

    @property
    def model(self) -> str:
        return self.hub_model or f"acme/{self.id}"


def _fal_paths(pid: str, polls: int = 2) -> list[str]:
    app = "/".join(pid.split("/")[:2])
    status = f"/{app}/requests/{RID}/status"
    return [f"/{pid}", *[status] * (polls + 1), f"/{app}/requests/{RID}", "/files/out"]


def _png_out(o: Any) -> bool:
    return bool(o.size == (4, 3))


CASES = [
    # fal-ai, sync API
    Case("fal-ai", "text-to-image", "fal-ai/flux/dev", {"inputs": "a lighthouse", "parameters": {"seed": 1}},
         lambda u: [json_reply({"images": [{"url": f"{u}/files/out", "width": 4, "height": 3}], "seed": 1}),
                    file(PNG, "image/png")],
         (PNG, "image/png"), ["/fal-ai/flux/dev", "/files/out"],
         lambda c: c.text_to_image("a lighthouse", seed=1), _png_out),
    Case("fal-ai", "automatic-speech-recognition", "fal-ai/whisper", (MP3, "audio/mpeg"),
         lambda u: [json_reply({"text": "hello there", "chunks": [{"timestamp": [0, 1.5], "text": "hello there"}]})],
         {"text": "hello there"}, ["/fal-ai/whisper"],
         lambda c: c.automatic_speech_recognition(MP3), lambda o: o.text == "hello there"),
    Case("fal-ai", "text-to-speech", "fal-ai/kokoro/american-english", {"inputs": "hello"},
         lambda u: [json_reply({"audio": {"url": f"{u}/files/out", "content_type": "audio/wav"}}),
                    file(WAV, "audio/wav")],
         (WAV, "audio/wav"), ["/fal-ai/kokoro/american-english", "/files/out"],
         lambda c: c.text_to_speech("hello"), lambda o: o == WAV),
    # fal-ai, the queue
    Case("fal-ai", "text-to-video", "fal-ai/ltx-video", {"inputs": "a cat surfing"},
         lambda u: [*fal_queue("fal-ai/ltx-video", {"video": {"url": f"{u}/files/out"}}), file(MP4, "video/mp4")],
         (MP4, "video/mp4"), _fal_paths("fal-ai/ltx-video"),
         lambda c: c.text_to_video("a cat surfing"), lambda o: o == MP4),
    Case("fal-ai", "image-to-video", "fal-ai/wan/v2.2/i2v", (PNG, "image/png"),
         lambda u: [*fal_queue("fal-ai/wan/v2.2/i2v", {"video": {"url": f"{u}/files/out"}}), file(MP4, "video/mp4")],
         (MP4, "video/mp4"), _fal_paths("fal-ai/wan/v2.2/i2v"),
         lambda c: c.image_to_video(PNG, prompt="it moves"), lambda o: o == MP4),
    Case("fal-ai", "image-to-image", "fal-ai/flux-kontext/dev",
         {"inputs": data_uri(PNG, "image/png"), "parameters": {"prompt": "make it blue"}},
         lambda u: [*fal_queue("fal-ai/flux-kontext/dev", {"images": [{"url": f"{u}/files/out"}]}),
                    file(PNG, "image/png")],
         (PNG, "image/png"), _fal_paths("fal-ai/flux-kontext/dev"),
         lambda c: c.image_to_image(PNG, prompt="make it blue"), _png_out),
    Case("fal-ai", "image-segmentation", "fal-ai/birefnet", (PNG, "image/png"),
         lambda u: fal_queue("fal-ai/birefnet", {"image": {"url": data_uri(MASK, "image/png"), "width": 4}}),
         [{"label": "mask", "mask": base64.b64encode(MASK).decode()}], _fal_paths("fal-ai/birefnet")[:-1],
         lambda c: c.image_segmentation(PNG), lambda o: o[0].label == "mask" and o[0].mask.size == (4, 3)),
    # replicate
    Case("replicate", "text-to-image", "black-forest-labs/flux-schnell", {"inputs": "a lighthouse"},
         lambda u: [json_reply(prediction("processing", [f"{u}/files/out"]), status=201), file(PNG, "image/png")],
         (PNG, "image/png"), ["/v1/models/black-forest-labs/flux-schnell/predictions", "/files/out"],
         lambda c: c.text_to_image("a lighthouse"), _png_out),
    Case("replicate", "text-to-speech", "jaaari/kokoro-82m:dfdf537ba482", {"inputs": "hello"},
         lambda u: [json_reply(prediction("starting"), status=201), json_reply(prediction("processing")),
                    json_reply(prediction("succeeded", f"{u}/files/out")), file(WAV, "audio/wav")],
         (WAV, "audio/wav"), ["/v1/predictions", f"/v1/predictions/{RID}", f"/v1/predictions/{RID}", "/files/out"],
         lambda c: c.text_to_speech("hello"), lambda o: o == WAV,
         lambda u: [json_reply(prediction("processing", f"{u}/files/out"), status=201), file(WAV, "audio/wav")],
         ["/v1/predictions", "/files/out"]),
    Case("replicate", "text-to-video", "owner/video-model", {"inputs": "a cat surfing"},
         lambda u: [json_reply(prediction("processing"), status=201),
                    json_reply(prediction("succeeded", f"{u}/files/out")), file(MP4, "video/mp4")],
         (MP4, "video/mp4"), ["/v1/models/owner/video-model/predictions", f"/v1/predictions/{RID}", "/files/out"],
         lambda c: c.text_to_video("a cat surfing"), lambda o: o == MP4,
         lambda u: [json_reply(prediction("succeeded", f"{u}/files/out"), status=201), file(MP4, "video/mp4")],
         ["/v1/models/owner/video-model/predictions", "/files/out"]),
    Case("replicate", "image-to-image", "owner/edit-model",
         {"inputs": data_uri(PNG, "image/png"), "parameters": {"prompt": "make it blue"}},
         lambda u: [json_reply(prediction("succeeded", [f"{u}/files/out"]), status=201), file(PNG, "image/png")],
         (PNG, "image/png"), ["/v1/models/owner/edit-model/predictions", "/files/out"],
         lambda c: c.image_to_image(PNG, prompt="make it blue"), _png_out),
    Case("replicate", "automatic-speech-recognition", "openai/whisper:8099696689d2", (WAV, "audio/wav"),
         lambda u: [json_reply(prediction("processing"), status=201),
                    json_reply(prediction("succeeded", {"transcription": "hello there", "segments": []}))],
         {"text": "hello there"}, ["/v1/predictions", f"/v1/predictions/{RID}"],
         lambda c: c.automatic_speech_recognition(WAV), lambda o: o.text == "hello there",
         lambda u: [json_reply(prediction("succeeded", {"transcription": "hello there"}), status=201)],
         ["/v1/predictions"]),
    # wavespeed
    *[Case("wavespeed", task, pid, request,
           lambda u, out=out, ct=ct: [json_reply(wavespeed_job("created")), json_reply(wavespeed_job("processing")),
                             json_reply(wavespeed_job("completed", [f"{u}/files/out"])), file(out, ct)],
           (out, ct), [f"/api/v3/{pid}", *[f"/api/v3/predictions/{RID}/result"] * 2, "/files/out"],
           sdk, check)
      for task, pid, request, out, ct, sdk, check in (
          ("text-to-image", "wavespeed-ai/flux-dev", {"inputs": "a fox"}, PNG, "image/png",
           lambda c: c.text_to_image("a fox"), _png_out),
          ("text-to-video", "wavespeed-ai/wan-2.1/t2v-480p", {"inputs": "a fox"}, MP4, "video/mp4",
           lambda c: c.text_to_video("a fox"), lambda o: o == MP4),
          ("image-to-image", "wavespeed-ai/flux-kontext-dev",
           {"inputs": data_uri(PNG, "image/png"), "parameters": {"prompt": "winter"}}, PNG, "image/png",
           lambda c: c.image_to_image(PNG, prompt="winter"), _png_out),
          ("image-to-video", "wavespeed-ai/wan-2.1/i2v-480p", (PNG, "image/png"), MP4, "video/mp4",
           lambda c: c.image_to_video(PNG, prompt="it runs"), lambda o: o == MP4),
      )],
]
IDS = [c.id for c in CASES]


def config(*cases: Case, mocks: dict[str, MockProvider], hf: MockProvider | None = None,
           jobs: dict[str, Any] | None = None, **sections: Any) -> str:
    models: dict[str, dict[str, Any]] = {}
    for case in cases:
        entry = models.setdefault(case.model, {"id": case.model, "task": case.task, "providers": []})
        entry["providers"].append({"provider": case.provider, "provider_id": case.provider_id, "task": case.task})
    conf: dict[str, Any] = {
        "server": {"master_key": MASTER},
        "providers": {name: {"api_key": KEYS[name], "base_url": mock.url} for name, mock in mocks.items()},
        "models": list(models.values()),
        "jobs": {**JOBS, **(jobs or {})},
        **sections,
    }
    if hf is not None:
        conf["huggingface"] = {"token": "hf_upstream_token_9", "base_url": hf.url, "live_catalog": False}
    return yaml.safe_dump(conf, sort_keys=False)


async def post(r: RunningRouter, case: Case, model: str | None = None) -> Any:
    async with r.client(headers=AUTH) as c:
        if isinstance(case.request, tuple):
            data, content_type = case.request
            return await c.post(f"/models/{model or case.model}", content=data, headers={"content-type": content_type})
        return await c.post(f"/models/{model or case.model}", json=case.request)


# --- server-side routing --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_server_side_routing(case: Case, mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start(case.provider)
    mock.enqueue(*case.replies(mock.url))
    r = await router.start(config(case, mocks={case.provider: mock}))
    resp = await post(r, case)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == case.provider
    if isinstance(case.expected, tuple):
        assert resp.content == case.expected[0]
        assert resp.headers["content-type"] == case.expected[1]
    else:
        assert resp.json() == case.expected
    assert [m.path for m in mock.received] == case.paths
    *calls, last = mock.received
    if case.paths[-1] == "/files/out":
        assert "Authorization" not in last.headers  # the result URL gets no credential
    else:
        calls.append(last)
    for sent in calls:
        assert header(sent, "authorization") == f"{SCHEME[case.provider]} {KEYS[case.provider]}"
    assert calls[0].method == "POST" and all(s.method == "GET" for s in calls[1:])
    if case.provider == "replicate":
        assert header(calls[0], "prefer") == "wait"
        assert set(calls[0].json) <= {"input", "version"}
    if isinstance(case.request, tuple) or case.request["inputs"].startswith("data:"):  # a binary input: inline
        assert b"data:image/png;base64," in calls[0].body or b"data:audio/" in calls[0].body


async def test_fal_queue_through_hugging_face_router(mocks: Mocks, router: RouterFactory) -> None:
    """With only an HF token the queue goes through HF's router: `?_subdomain=queue` on every call."""
    case = next(c for c in CASES if c.id == "fal-ai-text-to-video")
    hf = await mocks.start("hf")
    hf.enqueue(*case.replies(hf.url))
    r = await router.start(config(case, mocks={}, hf=hf))
    resp = await post(r, case)
    assert resp.status_code == 200, resp.text
    assert resp.content == MP4
    queue = hf.received[:-1]
    assert [m.path for m in queue] == ["/fal-ai" + p for p in case.paths[:-1]]
    assert all(m.query == "_subdomain=queue" for m in queue)
    assert all(m.headers["Authorization"] == "Bearer hf_upstream_token_9" for m in queue)
    assert hf.received[-1].path == "/files/out" and "Authorization" not in hf.received[-1].headers


# --- jobs that go wrong ---------------------------------------------------------------------------

async def test_job_that_never_finishes_times_out_then_fails_over(mocks: Mocks, router: RouterFactory) -> None:
    fal, rep = await mocks.start("fal-ai"), await mocks.start("replicate")
    video = next(c for c in CASES if c.id == "fal-ai-text-to-video")
    backup = next(c for c in CASES if c.id == "replicate-text-to-video")
    fal.enqueue(fal_queue("fal-ai/ltx-video", {})[0])
    fal.default = json_reply({"status": "IN_PROGRESS", "logs": []})  # forever
    alone = config(video, mocks={"fal-ai": fal}, jobs={"max_wait": 0.6})
    r = await router.start(alone)
    started = time.monotonic()
    resp = await post(r, video)
    took = time.monotonic() - started
    assert resp.status_code == 504, resp.text
    err = resp.json()["error"]
    assert err["code"] == "provider_timeout" and "jobs.max_wait" in err["message"]
    assert err["providers"][0]["provider"] == "fal-ai"
    assert took < 3, took  # within the configured bound, not the default 600 s
    polls = fal.hits - 1
    assert polls >= 3  # it did poll, at the configured pace, before giving up

    # the same model on two providers: the stuck one times out and replicate answers
    fal.received.clear()
    fal.enqueue(fal_queue("fal-ai/ltx-video", {})[0])
    rep.enqueue(*backup.replies(rep.url))
    conf = config(video, replace(backup, hub_model=video.model), mocks={"fal-ai": fal, "replicate": rep},
                  jobs={"max_wait": 0.6}, routing={"default_policy": "preferred", "preferred": ["fal-ai", "replicate"]})
    r2 = await router.start(conf)
    resp = await post(r2, video)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "replicate"
    assert resp.content == MP4 and resp.headers["content-type"] == "video/mp4"
    assert fal.hits >= 2 and rep.received[0].path == "/v1/models/owner/video-model/predictions"


@pytest.mark.parametrize("broken", ["404", "drop"])
async def test_broken_result_url_is_a_502_naming_the_provider(broken: str, mocks: Mocks,
                                                              router: RouterFactory) -> None:
    case = next(c for c in CASES if c.id == "fal-ai-text-to-image")
    fal = await mocks.start("fal-ai")
    fal.enqueue(json_reply({"images": [{"url": f"{fal.url}/files/gone.png"}]}),
                json_reply({"detail": "Not Found"}, status=404) if broken == "404" else drop())
    r = await router.start(config(case, mocks={"fal-ai": fal}))
    resp = await post(r, case)
    assert resp.status_code == 502, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert "fal-ai" in err["message"]
    assert [p["provider"] for p in err["providers"]] == ["fal-ai"]
    if broken == "404":
        assert "404" in err["message"]
    submit, *downloads = [m.path for m in fal.received]
    assert submit == "/fal-ai/flux/dev" and downloads and set(downloads) == {"/files/gone.png"}


@pytest.mark.parametrize(("job", "failure", "message"), [
    ("fal-ai-text-to-video", {"status": "COMPLETED", "error": "CUDA out of memory"}, "CUDA out of memory"),
    ("replicate-text-to-video", {**prediction("failed"), "error": "NSFW content detected"}, "NSFW content detected"),
    ("wavespeed-text-to-image", {"code": 200, "data": {**wavespeed_job("failed")["data"], "error": "quota exceeded"}},
     "quota exceeded"),
])
async def test_failed_job_is_a_502_with_the_providers_message(job: str, failure: Any, message: str,
                                                              mocks: Mocks, router: RouterFactory) -> None:
    case = next(c for c in CASES if c.id == job)
    provider = case.provider
    mock = await mocks.start(provider)
    first = case.replies(mock.url)[0]
    mock.enqueue(first, json_reply(failure))
    r = await router.start(config(case, mocks={provider: mock}))
    resp = await post(r, case)
    assert resp.status_code == 502, resp.text
    assert message in resp.json()["error"]["message"] and provider in resp.json()["error"]["message"]


# --- huggingface_hub through the passthrough ------------------------------------------------------

@pytest.fixture
def hf_client(monkeypatch: pytest.MonkeyPatch) -> Callable[[RunningRouter, Case], InferenceClient]:
    """huggingface_hub's InferenceClient(provider=...) with its router URL on hubroute, the Hub mapping
    answered locally, and its polling sleeps made short."""
    from huggingface_hub.hf_api import InferenceProviderMapping
    from huggingface_hub.inference._providers import _common, fal_ai, wavespeed

    monkeypatch.setattr(fal_ai, "_POLLING_INTERVAL", 0.01)
    monkeypatch.setattr(wavespeed, "_POLLING_INTERVAL", 0.01)

    def make(r: RunningRouter, case: Case) -> InferenceClient:
        monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", r.url + "/{provider}")
        mapping = dict(_common.HARDCODED_MODEL_INFERENCE_MAPPING.get(case.provider, {}))
        mapping[case.model] = InferenceProviderMapping(provider=case.provider, hf_model_id=case.model,
                                                       providerId=case.provider_id, task=case.task, status="live")
        monkeypatch.setitem(_common.HARDCODED_MODEL_INFERENCE_MAPPING, case.provider, mapping)
        return InferenceClient(provider=case.provider, model=case.model, api_key=MASTER)  # type: ignore[arg-type]

    return make


SDK_CASES = [pytest.param(c, id=c.id) for c in CASES]


@pytest.mark.parametrize("case", SDK_CASES)
async def test_huggingface_hub_through_the_passthrough(case: Case, mocks: Mocks, router: RouterFactory,
                                                       hf_client: Callable[[RunningRouter, Case], Any]) -> None:
    mock = await mocks.start(case.provider)
    mock.enqueue(*(case.sdk_replies or case.replies)(mock.url))
    r = await router.start(config(case, mocks={case.provider: mock}))
    client = hf_client(r, case)

    out = await asyncio.to_thread(case.sdk, client)
    assert case.sdk_check(out), out
    # the provider saw the same calls as with server-side routing, with hubroute's credential
    assert [m.path for m in mock.received] == (case.sdk_paths or case.paths)
    for sent in mock.received:
        if sent.path != "/files/out":  # the client downloads result files itself
            assert header(sent, "authorization") == f"{SCHEME[case.provider]} {KEYS[case.provider]}"
            assert "_subdomain" not in sent.query
