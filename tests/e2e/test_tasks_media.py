"""Image, speech and video providers with their own APIs, end to end: a real router, mock providers
speaking each provider's wire format (base64 JSON, raw audio, multipart uploads, submit-poll-download
jobs), two ways:

* server-side routing, `POST /models/{org}/{model}` (the provider pinned with `?provider=`, or chosen
  by policy with failover between two image providers);
* Hugging Face router compatibility: huggingface_hub's real InferenceClient(provider=...) with its
  router URL pointed at hubroute, for every provider x task the library supports.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from huggingface_hub import InferenceClient, constants
from PIL import Image

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.mocks import MockProvider, hang, json_reply
from tests.providers.media import b64, hub_mapping

MASTER = "hf_hubroute_master_key_1"  # an hf_-style key: huggingface_hub then uses the router URL


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 200, 10)).save(out, format=fmt)
    return out.getvalue()


PNG, JPEG = _image("PNG"), _image("JPEG")
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(500)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(300)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(400)

FLUX = "black-forest-labs/FLUX.1-dev"
KONTEXT = "black-forest-labs/FLUX.1-Kontext-dev"
KOKORO = "hexgrad/Kokoro-82M"
WAN_T2V = "Wan-AI/Wan2.1-T2V-14B"
WAN_I2V = "Wan-AI/Wan2.1-I2V-14B-720P"
WHISPER = "openai/whisper-large-v3"
LLAMA = "meta-llama/Llama-3.1-8B"

#: hub model -> (task, [(provider, provider id)])
MODELS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    FLUX: ("text-to-image", [("black-forest-labs", "flux-dev"), ("together", "black-forest-labs/FLUX.1-dev"),
                             ("nebius", "black-forest-labs/flux-dev"), ("nscale", "BlackForestLabs/FLUX.1-dev"),
                             ("hyperbolic", "FLUX.1-dev"), ("zai-org", "cogview-4")]),
    KONTEXT: ("image-to-image", [("together", "black-forest-labs/FLUX.1-kontext-dev")]),
    KOKORO: ("text-to-speech", [("together", "hexgrad/Kokoro-82M"), ("deepinfra", "hexgrad/Kokoro-82M")]),
    WAN_T2V: ("text-to-video", [("together", "Wan-AI/Wan2.1-T2V-14B"), ("novita", "wan-t2v")]),
    WAN_I2V: ("image-to-video", [("together", "Wan-AI/Wan2.1-I2V-14B")]),
    WHISPER: ("automatic-speech-recognition", [("deepinfra", "openai/whisper-large-v3")]),
    LLAMA: ("text-generation", [("featherless-ai", "meta-llama/Meta-Llama-3.1-8B"),
                                ("novita", "meta-llama/llama-3.1-8b")]),
}
PROVIDERS = ["black-forest-labs", "together", "nebius", "nscale", "hyperbolic", "zai-org", "novita", "deepinfra",
             "featherless-ai"]


def provider_id(model: str, provider: str) -> str:
    return dict(MODELS[model][1])[provider]


def config(mocks: dict[str, MockProvider], *, preferred: list[str] | None = None, master: bool = False,
           jobs: dict[str, Any] | None = None, routing: dict[str, Any] | None = None) -> str:
    conf: dict[str, Any] = {
        "huggingface": {"live_catalog": False},
        "providers": {name: {"api_key": f"{name}-key-123", "base_url": mock.url} for name, mock in mocks.items()},
        "models": [{"id": model, "task": task,
                    "providers": [{"provider": p, "provider_id": pid} for p, pid in providers if p in mocks]}
                   for model, (task, providers) in MODELS.items()],
        "routing": {"default_policy": "preferred", "preferred": preferred or list(mocks), **(routing or {})},
        "jobs": {"poll_interval": 0.01, "max_poll_interval": 0.05, **(jobs or {})},
    }
    if master:
        conf["server"] = {"master_key": MASTER}
    return yaml.safe_dump(conf, sort_keys=False)


async def start(mocks: Mocks, router: RouterFactory, *names: str,
                **kw: Any) -> tuple[RunningRouter, dict[str, MockProvider]]:
    started = {name: await mocks.start(name) for name in names}
    return await router.start(config(started, **kw)), started


def media(data: bytes, content_type: str) -> Any:
    return json_reply(data, content_type=content_type)


def header(received: Any, name: str) -> str | None:
    return next((v for k, v in received.headers.items() if k.lower() == name), None)


def requests(mock: MockProvider) -> list[tuple[str, str]]:
    return [(r.method, r.path + (f"?{r.query}" if r.query else "")) for r in mock.received]


async def run(r: RunningRouter, model: str, provider: str | None = None, **kw: Any) -> Any:
    async with r.client() as c:
        return await c.post(f"/models/{model}", params={"provider": provider} if provider else None, **kw)


def ok(resp: Any, content_type: str, data: bytes, provider: str) -> None:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == content_type
    assert resp.content == data
    assert resp.headers["x-inference-provider"] == provider


# --- black-forest-labs ------------------------------------------------------------------------------
def bfl_job(mock: MockProvider, pending: int = 2, *, sample: str | None = None, final: str = "Ready") -> None:
    poll = f"{mock.url}/v1/get_result?id=job-1"
    mock.enqueue(json_reply({"id": "job-1", "polling_url": poll}))
    mock.enqueue(*[json_reply({"id": "job-1", "status": "Pending", "result": None, "progress": 0.5})] * pending)
    result = {"sample": sample or f"{mock.url}/results/sample.jpeg", "seed": 1} if final == "Ready" else None
    mock.enqueue(json_reply({"id": "job-1", "status": final, "result": result}))
    if final == "Ready" and sample is None:
        mock.enqueue(media(JPEG, "image/jpeg"))


async def test_black_forest_labs_submit_poll_download(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "black-forest-labs")
    bfl = m["black-forest-labs"]
    bfl_job(bfl)
    resp = await run(r, FLUX, json={"inputs": "a raccoon", "parameters": {"num_inference_steps": 4, "seed": 8}})
    ok(resp, "image/jpeg", JPEG, "black-forest-labs")
    assert requests(bfl) == [("POST", "/v1/flux-dev")] + [("GET", "/v1/get_result?id=job-1")] * 3 + \
        [("GET", "/results/sample.jpeg")]
    submit, *polls, download = bfl.received
    assert submit.json == {"prompt": "a raccoon", "steps": 4, "seed": 8}
    assert header(submit, "x-key") == "black-forest-labs-key-123" and header(submit, "authorization") is None
    assert all(header(p, "x-key") == "black-forest-labs-key-123" for p in polls)  # its own host
    assert header(download, "x-key") is None and header(download, "authorization") is None


async def test_black_forest_labs_moderation_is_an_error(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "black-forest-labs")
    bfl_job(m["black-forest-labs"], pending=1, final="Content Moderated")
    resp = await run(r, FLUX, json={"inputs": "something"})
    assert resp.status_code == 502, resp.text
    assert "Content Moderated" in resp.json()["error"]["message"]
    assert m["black-forest-labs"].hits == 3  # submit, two polls, no download


# --- together --------------------------------------------------------------------------------------
async def test_together_images_speech_and_videos(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "together")
    tg = m["together"]
    tg.enqueue(json_reply({"id": "i1", "data": [{"index": 0, "b64_json": b64(JPEG)}]}))
    t2i = await run(r, FLUX, json={"inputs": "a tortoise", "parameters": {"width": 512, "height": 512}})
    ok(t2i, "image/jpeg", JPEG, "together")
    assert tg.received[-1].json == {"prompt": "a tortoise", "response_format": "base64", "width": 512,
                                    "height": 512, "model": "black-forest-labs/FLUX.1-dev"}
    assert header(tg.received[-1], "authorization") == "Bearer together-key-123"

    tg.enqueue(json_reply({"id": "i2", "data": [{"b64_json": b64(PNG)}]}))
    uri = "data:image/png;base64," + b64(PNG)
    i2i = await run(r, KONTEXT, json={"inputs": uri, "parameters": {"prompt": "make it red"}})
    ok(i2i, "image/png", PNG, "together")
    assert tg.received[-1].json == {"prompt": "make it red", "image_url": uri, "response_format": "base64",
                                    "model": "black-forest-labs/FLUX.1-kontext-dev"}

    tg.enqueue(media(MP3, "audio/mpeg"))
    tts = await run(r, KOKORO, "together", json={"inputs": "Hello there"})
    ok(tts, "audio/mpeg", MP3, "together")
    assert requests(tg)[-1] == ("POST", "/v1/audio/speech")
    assert tg.received[-1].json == {"input": "Hello there", "model": "hexgrad/Kokoro-82M"}

    for model, body in ((WAN_T2V, {"inputs": "a cat surfing"}), (WAN_I2V, {"inputs": uri})):
        before = tg.hits
        tg.enqueue(json_reply({"id": "v1", "status": "queued"}), json_reply({"id": "v1", "status": "in_progress"}),
                   json_reply({"id": "v1", "status": "in_progress"}),
                   json_reply({"id": "v1", "status": "completed", "outputs": {"video_url": f"{tg.url}/files/v1.mp4"}}),
                   media(MP4, "video/mp4"))
        video = await run(r, model, "together", json=body)
        ok(video, "video/mp4", MP4, "together")
        assert requests(tg)[before:] == [("POST", "/v2/videos")] + [("GET", "/v2/videos/v1")] * 3 + \
            [("GET", "/files/v1.mp4")]
        assert header(tg.received[before + 1], "authorization") == "Bearer together-key-123"  # polls: with key
        assert header(tg.received[-1], "authorization") is None  # the download: none
    assert tg.received[-5].json["frame_images"] == [{"input_image": uri, "frame": "first"}]


async def test_together_video_failure_is_reported(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "together")
    m["together"].enqueue(json_reply({"id": "v1", "status": "queued"}),
                          json_reply({"id": "v1", "status": "failed", "error": {"message": "prompt rejected"}}))
    resp = await run(r, WAN_T2V, "together", json={"inputs": "a cat"})
    assert resp.status_code == 502 and "prompt rejected" in resp.json()["error"]["message"]


# --- nebius, nscale, hyperbolic, zai-org -----------------------------------------------------------------
async def test_openai_style_image_providers(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "nebius", "nscale", "hyperbolic")
    m["nebius"].enqueue(json_reply({"data": [{"b64_json": b64(PNG)}]}))
    m["nscale"].enqueue(json_reply({"created": 1, "data": [{"b64_json": b64(JPEG)}]}))
    m["hyperbolic"].enqueue(json_reply({"images": [{"index": 0, "image": b64(PNG)}], "inference_time": 1.2}))
    body = {"inputs": "a tortoise", "parameters": {"width": 256, "height": 128, "num_inference_steps": 4}}
    ok(await run(r, FLUX, "nebius", json=body), "image/png", PNG, "nebius")
    ok(await run(r, FLUX, "nscale", json=body), "image/jpeg", JPEG, "nscale")
    ok(await run(r, FLUX, "hyperbolic", json=body), "image/png", PNG, "hyperbolic")
    assert m["nebius"].received[0].json == {"prompt": "a tortoise", "width": 256, "height": 128,
                                            "num_inference_steps": 4, "response_format": "b64_json",
                                            "model": "black-forest-labs/flux-dev"}
    assert m["nscale"].received[0].json == {"response_format": "b64_json", "prompt": "a tortoise",
                                            "model": "BlackForestLabs/FLUX.1-dev", "size": "256x128"}
    assert m["hyperbolic"].received[0].json == {"prompt": "a tortoise", "model_name": "FLUX.1-dev", "width": 256,
                                                "height": 128, "steps": 4}
    for name in ("nebius", "nscale", "hyperbolic"):
        assert requests(m[name]) == [("POST", "/v1/images/generations")]
        assert header(m[name].received[0], "authorization") == f"Bearer {name}-key-123"


async def test_zai_org_async_images(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "zai-org")
    zai = m["zai-org"]
    zai.enqueue(json_reply({"id": "t-9", "task_status": "PROCESSING", "model": "cogview-4"}),
                json_reply({"id": "t-9", "task_status": "PROCESSING"}),
                json_reply({"id": "t-9", "task_status": "SUCCESS", "image_result": [{"url": f"{zai.url}/img/9.png"}]}),
                media(PNG, "image/png"))
    resp = await run(r, FLUX, "zai-org", json={"inputs": "a cat", "parameters": {"width": 1024, "height": 768}})
    ok(resp, "image/png", PNG, "zai-org")
    assert requests(zai) == [("POST", "/api/paas/v4/async/images/generations"),
                             ("GET", "/api/paas/v4/async-result/t-9"), ("GET", "/api/paas/v4/async-result/t-9"),
                             ("GET", "/img/9.png")]
    assert zai.received[0].json == {"model": "cogview-4", "prompt": "a cat", "size": "1024x768"}
    assert header(zai.received[1], "x-source-channel") == "hugging_face"


# --- novita, deepinfra, featherless-ai ------------------------------------------------------------------
async def test_novita_video_and_text_generation(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "novita")
    nv = m["novita"]
    nv.enqueue(json_reply({"video": {"video_url": f"{nv.url}/out/v.mp4", "video_type": "mp4"}}),
               media(MP4, "video/mp4"))
    ok(await run(r, WAN_T2V, "novita", json={"inputs": "a cat", "parameters": {"seed": 3}}), "video/mp4", MP4, "novita")
    assert requests(nv) == [("POST", "/v3/hf/wan-t2v"), ("GET", "/out/v.mp4")]
    assert nv.received[0].json == {"prompt": "a cat", "seed": 3}
    nv.enqueue(json_reply({"task_id": "n1"}), json_reply({"task": {"task_id": "n1", "status": "TASK_STATUS_QUEUED"}}),
               json_reply({"task": {"task_id": "n1", "status": "TASK_STATUS_SUCCEED"},
                           "videos": [{"video_url": f"{nv.url}/out/n1.mp4"}]}), media(MP4, "video/mp4"))
    ok(await run(r, WAN_T2V, "novita", json={"inputs": "a dog"}), "video/mp4", MP4, "novita")
    assert requests(nv)[2:] == [("POST", "/v3/hf/wan-t2v"), ("GET", "/v3/async/task-result?task_id=n1"),
                                ("GET", "/v3/async/task-result?task_id=n1"), ("GET", "/out/n1.mp4")]
    nv.enqueue(json_reply({"choices": [{"index": 0, "text": " Paris.", "finish_reason": "stop"}]}))
    text = await run(r, LLAMA, "novita", json={"inputs": "The capital is", "parameters": {"max_new_tokens": 3}})
    assert text.status_code == 200 and text.json() == [{"generated_text": " Paris."}]
    assert nv.received[-1].path == "/v3/openai/completions"
    assert nv.received[-1].json == {"model": "meta-llama/llama-3.1-8b", "prompt": "The capital is", "max_tokens": 3}


async def test_deepinfra_speech_both_ways(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "deepinfra")
    di = m["deepinfra"]
    di.enqueue(json_reply({"text": "hello world", "segments": [{"text": "hello world", "start": 0.0, "end": 1.5}]}))
    asr = await run(r, WHISPER, content=WAV, headers={"content-type": "audio/wav"})
    assert asr.status_code == 200, asr.text
    assert asr.json() == {"text": "hello world"}  # no timestamps asked: none given
    sent = di.received[0]
    assert sent.path == "/v1/openai/audio/transcriptions"
    assert header(sent, "content-type").startswith("multipart/form-data; boundary=")
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {header(sent, 'content-type')}\r\n\r\n".encode() + sent.body)
    parts = {dict(p.get_params(header="content-disposition")[1:])["name"]: p for p in form.iter_parts()}
    assert parts["file"].get_payload(decode=True) == WAV and parts["file"].get_content_type() == "audio/wav"
    assert parts["model"].get_payload(decode=True) == b"openai/whisper-large-v3"
    assert header(sent, "authorization") == "Bearer deepinfra-key-123"

    di.enqueue(json_reply({"text": "hi", "segments": [{"text": "hi", "start": 0.0, "end": 0.4}]}))
    uri = "data:audio/wav;base64," + b64(WAV)
    stamped = await run(r, WHISPER, json={"inputs": uri, "parameters": {"return_timestamps": True}})
    assert stamped.json() == {"text": "hi", "chunks": [{"text": "hi", "timestamp": [0.0, 0.4]}]}

    di.enqueue(media(WAV, "audio/wav"))
    ok(await run(r, KOKORO, "deepinfra", json={"inputs": "Hello"}), "audio/wav", WAV, "deepinfra")
    assert di.received[-1].path == "/v1/openai/audio/speech"
    assert di.received[-1].json == {"input": "Hello", "model": "hexgrad/Kokoro-82M"}


async def test_featherless_text_generation(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "featherless-ai")
    m["featherless-ai"].enqueue(json_reply({"choices": [{"index": 0, "text": " upon a time"}]}))
    resp = await run(r, LLAMA, json={"inputs": "Once", "parameters": {"max_new_tokens": 4, "return_full_text": True}})
    assert resp.status_code == 200, resp.text
    assert resp.json() == [{"generated_text": "Once upon a time"}]
    assert resp.headers["x-inference-provider"] == "featherless-ai"
    sent = m["featherless-ai"].received[0]
    assert sent.path == "/v1/completions"
    assert sent.json == {"model": "meta-llama/Meta-Llama-3.1-8B", "prompt": "Once", "max_tokens": 4}


# --- failover between two image providers ----------------------------------------------------------------
def together_image(mock: MockProvider) -> None:
    mock.enqueue(json_reply({"data": [{"b64_json": b64(PNG)}]}))


@pytest.mark.parametrize("failure", ["http-500", "hung-submit", "endless-job", "broken-result-url"])
async def test_failover_to_the_second_image_provider(mocks: Mocks, router: RouterFactory, failure: str) -> None:
    r, m = await start(mocks, router, "black-forest-labs", "together", preferred=["black-forest-labs", "together"],
                       jobs={"max_wait": 1.0}, routing={"timeouts": {"first_byte": 0.5}})
    bfl, tg = m["black-forest-labs"], m["together"]
    if failure == "http-500":
        bfl.enqueue(json_reply({"detail": "internal error"}, status=500))
    elif failure == "hung-submit":
        bfl.enqueue(hang(5))
    elif failure == "endless-job":
        bfl.enqueue(json_reply({"id": "j", "polling_url": f"{bfl.url}/v1/get_result?id=j"}))
        bfl.default = json_reply({"id": "j", "status": "Pending"})
    else:
        bfl_job(bfl, pending=0, sample="http://127.0.0.1:9/nothing-listens-here.jpeg")
    together_image(tg)
    resp = await run(r, FLUX, json={"inputs": "a cat"})
    ok(resp, "image/png", PNG, "together")
    assert bfl.hits >= 1 and tg.hits == 1
    if failure == "endless-job":
        assert bfl.hits > 3  # it was polled until the job's bound


async def test_every_image_provider_failing_names_each(mocks: Mocks, router: RouterFactory) -> None:
    r, m = await start(mocks, router, "black-forest-labs", "together", preferred=["black-forest-labs", "together"])
    m["black-forest-labs"].enqueue(json_reply({"detail": "down"}, status=503))
    m["together"].enqueue(json_reply({"data": []}))  # 200 without the image
    resp = await run(r, FLUX, json={"inputs": "a cat"})
    assert resp.status_code == 502
    failed = {p["provider"] for p in resp.json()["error"]["providers"]}
    assert failed == {"black-forest-labs", "together"}


# --- huggingface_hub's InferenceClient through the passthrough ---------------------------------------------
@pytest.fixture
def hub_router(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[RunningRouter], None]]:
    """Point huggingface_hub's router URL at hubroute, map the test models without asking the Hub, and
    make its own polling loops (together's videos, zai-org's images) wait no time."""
    from huggingface_hub.inference._providers import together as hub_together
    from huggingface_hub.inference._providers import zai_org as hub_zai

    monkeypatch.setattr(hub_together, "_VIDEO_POLLING_INTERVAL", 0.0)
    monkeypatch.setattr(hub_zai, "_POLLING_INTERVAL", 0.0)
    stack = [hub_mapping(p, model, pid, task) for model, (task, providers) in MODELS.items() for p, pid in providers]
    for cm in stack:
        cm.__enter__()

    def point(r: RunningRouter) -> None:
        monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", r.url + "/{provider}")

    yield point
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


async def call(provider: str, method: str, *args: Any, **kw: Any) -> Any:
    client = InferenceClient(provider=provider, api_key=MASTER)  # type: ignore[arg-type]
    return await asyncio.to_thread(getattr(client, method), *args, **kw)


def is_image(out: Any, size: tuple[int, int] = (4, 3)) -> bool:
    return isinstance(out, Image.Image) and out.size == size


async def test_huggingface_hub_together_every_task(mocks: Mocks, router: RouterFactory, hub_router) -> None:
    r, m = await start(mocks, router, "together", master=True)
    hub_router(r)
    tg = m["together"]
    tg.enqueue(json_reply({"data": [{"b64_json": b64(JPEG)}]}), json_reply({"data": [{"b64_json": b64(PNG)}]}),
               media(MP3, "audio/mpeg"))
    assert is_image(await call("together", "text_to_image", "a tortoise", model=FLUX, width=512, height=512))
    assert is_image(await call("together", "image_to_image", PNG, prompt="red", model=KONTEXT))
    assert await call("together", "text_to_speech", "Hello", model=KOKORO) == MP3
    assert requests(tg) == [("POST", "/v1/images/generations")] * 2 + [("POST", "/v1/audio/speech")]
    assert {header(x, "authorization") for x in tg.received} == {"Bearer together-key-123"}  # swapped in
    assert tg.received[0].json["model"] == "black-forest-labs/FLUX.1-dev"
    for method, model, arg in (("text_to_video", WAN_T2V, "a cat"), ("image_to_video", WAN_I2V, PNG)):
        before = tg.hits
        tg.enqueue(json_reply({"id": "v7", "status": "queued"}), json_reply({"id": "v7", "status": "in_progress"}),
                   json_reply({"id": "v7", "status": "completed", "outputs": {"video_url": f"{tg.url}/files/v7.mp4"}}),
                   media(MP4, "video/mp4"))
        assert await call("together", method, arg, model=model) == MP4
        assert requests(tg)[before:] == [("POST", "/v2/videos"), ("GET", "/v2/videos/v7"), ("GET", "/v2/videos/v7"),
                                         ("GET", "/files/v7.mp4")]


async def test_huggingface_hub_other_providers(mocks: Mocks, router: RouterFactory, hub_router) -> None:
    r, m = await start(mocks, router, "nscale", "zai-org", "novita", "deepinfra", "featherless-ai", master=True)
    hub_router(r)
    m["nscale"].enqueue(json_reply({"data": [{"b64_json": b64(PNG)}]}))
    assert is_image(await call("nscale", "text_to_image", "a cat", model=FLUX, width=64, height=32))
    assert m["nscale"].received[0].json["size"] == "64x32"

    zai = m["zai-org"]
    zai.enqueue(json_reply({"id": "z1", "task_status": "PROCESSING"}),
                json_reply({"id": "z1", "task_status": "PROCESSING"}),
                json_reply({"id": "z1", "task_status": "SUCCESS", "image_result": [{"url": f"{zai.url}/img/z1.png"}]}),
                media(PNG, "image/png"))
    assert is_image(await call("zai-org", "text_to_image", "a cat", model=FLUX))
    assert requests(zai)[:2] == [("POST", "/api/paas/v4/async/images/generations"),
                                 ("GET", "/api/paas/v4/async-result/z1")]
    assert header(zai.received[1], "authorization") == "Bearer zai-org-key-123"

    nv = m["novita"]
    nv.enqueue(json_reply({"video": {"video_url": f"{nv.url}/out/v.mp4"}}), media(MP4, "video/mp4"),
               json_reply({"choices": [{"text": " Paris", "finish_reason": "stop"}]}))
    assert await call("novita", "text_to_video", "a cat", model=WAN_T2V) == MP4
    assert await call("novita", "text_generation", "The capital is", model=LLAMA, max_new_tokens=2) == " Paris"
    assert requests(nv) == [("POST", "/v3/hf/wan-t2v"), ("GET", "/out/v.mp4"), ("POST", "/v3/openai/completions")]

    di = m["deepinfra"]
    di.enqueue(json_reply({"text": "hello"}), media(WAV, "audio/wav"))
    assert (await call("deepinfra", "automatic_speech_recognition", WAV, model=WHISPER)).text == "hello"
    assert await call("deepinfra", "text_to_speech", "Hello", model=KOKORO) == WAV
    assert header(di.received[0], "content-type").startswith("multipart/form-data; boundary=")
    assert WAV in di.received[0].body  # the upload passed through unchanged
    assert requests(di) == [("POST", "/v1/openai/audio/transcriptions"), ("POST", "/v1/openai/audio/speech")]

    m["featherless-ai"].enqueue(json_reply({"choices": [{"text": " upon a time", "finish_reason": "length"}]}))
    assert await call("featherless-ai", "text_generation", "Once", model=LLAMA, max_new_tokens=4) == " upon a time"
    assert m["featherless-ai"].received[0].json == {"prompt": "Once", "max_tokens": 4,
                                                    "model": "meta-llama/Meta-Llama-3.1-8B"}


async def test_passthrough_for_providers_without_a_hub_helper(mocks: Mocks, router: RouterFactory) -> None:
    """black-forest-labs, nebius and hyperbolic have no huggingface_hub helper any more: their native
    routes still pass through, each with its own credential scheme swapped in."""
    r, m = await start(mocks, router, "black-forest-labs", "nebius", "hyperbolic", master=True)
    m["black-forest-labs"].enqueue(json_reply({"id": "j", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=j"}))
    m["nebius"].enqueue(json_reply({"data": [{"b64_json": b64(PNG)}]}))
    m["hyperbolic"].enqueue(json_reply({"images": [{"image": b64(PNG)}]}))
    async with r.client(headers={"authorization": f"Bearer {MASTER}"}) as c:
        bfl = await c.post("/black-forest-labs/v1/flux-dev", json={"prompt": "a cat"})
        neb = await c.post("/nebius/v1/images/generations", json={"prompt": "a cat", "model": "m"})
        hyp = await c.post("/hyperbolic/v1/images/generations", json={"prompt": "a cat", "model_name": "m"})
    assert bfl.status_code == neb.status_code == hyp.status_code == 200
    assert bfl.json()["id"] == "j" and bfl.headers["x-inference-provider"] == "black-forest-labs"
    sent = m["black-forest-labs"].received[0]
    assert header(sent, "x-key") == "black-forest-labs-key-123" and header(sent, "authorization") is None
    assert header(m["nebius"].received[0], "authorization") == "Bearer nebius-key-123"
    assert header(m["hyperbolic"].received[0], "authorization") == "Bearer hyperbolic-key-123"
