"""Tasks that answer with media, and OpenAI's media routes, through a real router and mock providers:
raw binary answers relayed with their content type, large uploads spooled and sent whole, the
OpenAI SDK's images / speech / transcriptions calls."""

from __future__ import annotations

import base64
import os

import openai
import orjson

from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, json_reply

FLUX = "black-forest-labs/FLUX.1-dev"
PIX2PIX = "timbrooks/instruct-pix2pix"
WHISPER = "openai/whisper-large-v3"
TTS = "facebook/mms-tts-eng"
VQA = "dandelin/vilt-b32-finetuned-vqa"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(2000)


def config(hf: MockProvider, **models: str) -> str:
    """hf-inference through a mock HF router, serving `models` (id -> task) from config."""
    entries = "".join(f"  - {{id: {m}, task: {t}, providers: [{{provider: hf-inference}}]}}\n"
                      for m, t in models.items())
    return f"""
huggingface: {{token: hf_test_token_123, base_url: "{hf.url}", live_catalog: false}}
models:
{entries}"""


def media(body: bytes, content_type: str) -> object:
    return json_reply(body, content_type=content_type)


async def test_text_to_image_answers_the_image_bytes(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(media(PNG, "image/png"))
    r = await router.start(config(hf, **{FLUX: "text-to-image"}))
    async with r.client() as c:
        resp = await c.post(f"/models/{FLUX}", json={"inputs": "an astronaut", "parameters": {"width": 512}})
    assert resp.status_code == 200, resp.text
    assert resp.content == PNG
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["x-inference-provider"] == "hf-inference"
    assert resp.headers["content-length"] == str(len(PNG))
    assert hf.received[0].json == {"inputs": "an astronaut", "parameters": {"width": 512}}


async def test_large_raw_upload_is_sent_whole_with_its_length(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    image = PNG + os.urandom(3 * 1024 * 1024)  # beyond the in-memory part of the spool
    hf.enqueue(media(image[::-1], "image/jpeg"))
    r = await router.start(config(hf, **{PIX2PIX: "image-to-image"}))
    async with r.client() as c:
        resp = await c.post(f"/models/{PIX2PIX}", content=image, headers={"content-type": "image/png"})
    assert resp.status_code == 200, resp.text
    assert resp.content == image[::-1] and resp.headers["content-type"] == "image/jpeg"
    sent = hf.received[0]
    assert sent.body == image
    assert sent.headers["Content-Type"] == "image/png"
    assert sent.headers["Content-Length"] == str(len(image)) and "Transfer-Encoding" not in sent.headers


async def test_image_inside_structured_inputs_goes_as_base64(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply([{"answer": "two", "score": 0.9}]))
    r = await router.start(config(hf, **{VQA: "visual-question-answering"}))
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    async with r.client() as c:
        resp = await c.post(f"/models/{VQA}", json={"inputs": {"image": uri, "question": "How many cats?"}})
        text = await c.post(f"/models/{VQA}", json={"inputs": {"image": "not an image!", "question": "?"}})
    assert resp.status_code == 200, resp.text
    assert resp.json() == [{"answer": "two", "score": 0.9}]
    png = base64.b64encode(PNG).decode()  # in huggingface_hub's shape for visual-question-answering on hf-inference
    assert hf.received[0].json == {"inputs": png, "image": png, "question": "How many cats?"}
    assert text.status_code == 400 and text.json()["error"]["param"] == "inputs.image"


async def test_media_where_json_is_due_and_json_where_media_is_due_are_refused(
    mocks: Mocks, router: RouterFactory
) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(media(PNG, "image/png"), json_reply({"label": "cat"}))
    r = await router.start(config(hf, **{VQA: "visual-question-answering", FLUX: "text-to-image"}))
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    async with r.client() as c:
        vqa = await c.post(f"/models/{VQA}", json={"inputs": {"image": uri, "question": "?"}})
        t2i = await c.post(f"/models/{FLUX}", json={"inputs": "a cat"})
    assert vqa.status_code == 502 and "image/png" in vqa.json()["error"]["message"]
    assert t2i.status_code == 502 and "without the image" in t2i.json()["error"]["message"]


async def test_openai_sdk_images_generate(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(media(PNG, "image/png"), media(PNG[::-1], "image/png"))
    r = await router.start(config(hf, **{FLUX: "text-to-image"}))
    client = openai.AsyncOpenAI(base_url=r.url + "/v1", api_key="unused")
    result = await client.images.generate(model=FLUX, prompt="a lighthouse", size="768x512", n=2,
                                          extra_body={"seed": 7, "negative_prompt": "fog"})
    await client.close()
    assert sorted(base64.b64decode(d.b64_json or "") for d in result.data) == sorted([PNG, PNG[::-1]])
    assert len(hf.received) == 2
    assert hf.received[0].json == {"inputs": "a lighthouse",
                                   "parameters": {"negative_prompt": "fog", "seed": 7, "width": 768, "height": 512}}


async def test_images_generations_validation(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    r = await router.start(config(hf, **{FLUX: "text-to-image"}))
    async with r.client() as c:
        size = await c.post("/v1/images/generations", json={"model": FLUX, "prompt": "x", "size": "big"})
        n = await c.post("/v1/images/generations", json={"model": FLUX, "prompt": "x", "n": 50})
        prompt = await c.post("/v1/images/generations", json={"model": FLUX})
        chat_model = await c.post("/v1/images/generations", json={"model": WHISPER, "prompt": "x"})
    assert (size.status_code, size.json()["error"]["param"]) == (400, "size")
    assert (n.status_code, n.json()["error"]["param"]) == (400, "n")
    assert (prompt.status_code, prompt.json()["error"]["param"]) == (400, "prompt")
    assert chat_model.status_code in (400, 404)
    assert hf.hits == 0


async def test_openai_sdk_speech_streams_the_audio(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(media(WAV, "audio/wav"))
    r = await router.start(config(hf, **{TTS: "text-to-speech"}))
    client = openai.AsyncOpenAI(base_url=r.url + "/v1", api_key="unused")
    speech = await client.audio.speech.create(model=TTS, input="Hello there", voice="alloy")
    await client.close()
    assert speech.content == WAV and speech.response.headers["content-type"] == "audio/wav"
    assert hf.received[0].json == {"inputs": "Hello there"}


async def test_openai_sdk_transcriptions_multipart(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.enqueue(json_reply({"text": " Hello world."}), json_reply({"text": "plain"}),
               json_reply({"text": "ab", "chunks": [{"text": "a", "timestamp": [0.0, 1.0]},
                                                    {"text": "b", "timestamp": [1.0, 2.5]}]}))
    r = await router.start(config(hf, **{WHISPER: "automatic-speech-recognition"}))
    recording = WAV + os.urandom(2 * 1024 * 1024)
    client = openai.AsyncOpenAI(base_url=r.url + "/v1", api_key="unused")
    result = await client.audio.transcriptions.create(model=WHISPER, file=("talk.wav", recording, "audio/wav"))
    text = await client.audio.transcriptions.create(model=WHISPER, file=("t.wav", WAV), response_format="text")
    verbose = await client.audio.transcriptions.create(model=WHISPER, file=("t.wav", WAV),
                                                       response_format="verbose_json", language="en")
    await client.close()
    assert result.text == " Hello world."
    assert hf.received[0].body == recording and hf.received[0].headers["Content-Type"] == "audio/wav"
    assert text.strip() == "plain"
    assert verbose.text == "ab" and verbose.language == "en"
    assert [(s.start, s.end, s.text) for s in verbose.segments or []] == [(0.0, 1.0, "a"), (1.0, 2.5, "b")]


async def test_transcriptions_errors_name_the_field(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    r = await router.start(config(hf, **{WHISPER: "automatic-speech-recognition"}))
    async with r.client() as c:
        nofile = await c.post("/v1/audio/transcriptions", files={"model": (None, WHISPER)})
        nomodel = await c.post("/v1/audio/transcriptions", files={"file": ("a.wav", WAV)})
        notform = await c.post("/v1/audio/transcriptions", json={"model": WHISPER})
        fmt = await c.post("/v1/audio/transcriptions", data={"model": WHISPER, "response_format": "srt"},
                           files={"file": ("a.wav", WAV)})
    assert (nofile.status_code, nofile.json()["error"]["param"]) == (400, "file")
    assert (nomodel.status_code, nomodel.json()["error"]["param"]) == (400, "model")
    assert notform.status_code == 400 and "multipart" in notform.json()["error"]["message"]
    assert (fmt.status_code, fmt.json()["error"]["param"]) == (400, "response_format")
    assert hf.hits == 0


async def test_models_list_shows_other_tasks_when_asked(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    r = await router.start(config(hf, **{FLUX: "text-to-image"}))
    async with r.client() as c:
        default = (await c.get("/v1/models")).json()["data"]
        images = (await c.get("/v1/models?task=text-to-image")).json()["data"]
        asr = (await c.get("/v1/models?task=automatic-speech-recognition")).json()["data"]
    assert FLUX not in {m["id"] for m in default} and default
    assert all(m["task"] in ("conversational", "text-generation") for m in default)
    flux = next(m for m in images if m["id"] == FLUX)
    assert flux["task"] == "text-to-image"
    assert flux["architecture"] == {"input_modalities": ["text"], "output_modalities": ["image"]}
    reachable = {p["provider"] for p in flux["providers"]}
    assert "hf-inference" in reachable  # HF's token reaches the providers HF routes...
    assert "black-forest-labs" not in reachable  # ...not those it no longer routes, without their key
    whisper = next(m for m in asr if m["id"] == WHISPER)
    assert whisper["architecture"]["input_modalities"] == ["audio"]
    assert orjson.dumps(images)  # plain JSON


async def test_transcription_uploads_over_the_limit_or_malformed_are_400(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    r = await router.start(config(hf, **{WHISPER: "automatic-speech-recognition"}) + "inputs: {max_bytes: 1000}\n")
    boundary = "XyZ"
    broken = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{WHISPER}\r\n"
              f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nabc").encode()
    async with r.client() as c:
        big = await c.post("/v1/audio/transcriptions", data={"model": WHISPER}, files={"file": ("a.wav", WAV * 2)})
        cut = await c.post("/v1/audio/transcriptions", content=broken,
                           headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        raw_big = await c.post(f"/models/{WHISPER}", content=WAV * 2, headers={"content-type": "audio/wav"})
    assert (big.status_code, big.json()["error"]["param"]) == (400, "file")
    assert cut.status_code == 400, cut.text
    assert (raw_big.status_code, raw_big.json()["error"]["param"]) == (400, "inputs")
    assert hf.hits == 0


async def test_task_inputs_as_a_multipart_form(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.default = json_reply([{"answer": "two", "score": 0.9}])
    r = await router.start(config(hf, **{VQA: "visual-question-answering", PIX2PIX: "image-to-image"}))
    hf.enqueue(media(PNG[::-1], "image/png"))
    async with r.client() as c:
        i2i = await c.post(f"/models/{PIX2PIX}", files={"inputs": ("cat.png", PNG, "image/png"),
                                                          "parameters": (None, '{"prompt": "a tiger"}')})
        vqa = await c.post(f"/models/{VQA}", files={"image": ("cat.png", PNG), "question": (None, "How many?")})
        bad_json = await c.post(f"/models/{PIX2PIX}", files={"inputs": ("c.png", PNG), "parameters": (None, "{")})
        unknown = await c.post(f"/models/{PIX2PIX}", files={"inputs": ("c.png", PNG), "colour": (None, "red")})
    assert i2i.status_code == 200 and i2i.content == PNG[::-1], i2i.text
    assert hf.received[0].json == {"inputs": base64.b64encode(PNG).decode(), "parameters": {"prompt": "a tiger"}}
    assert vqa.status_code == 200, vqa.text
    png = base64.b64encode(PNG).decode()  # in huggingface_hub's shape for visual-question-answering on hf-inference
    assert hf.received[1].json == {"inputs": png, "image": png, "question": "How many?"}
    assert (bad_json.status_code, bad_json.json()["error"]["param"]) == (400, "parameters")
    assert (unknown.status_code, unknown.json()["error"]["param"]) == (400, "colour")
    assert hf.hits == 2


async def test_one_failed_image_of_several_fails_the_request_cleanly(mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    hf.default = media(PNG, "image/png")
    hf.enqueue(json_reply({"error": "prompt refused by the safety filter"}, status=400))  # whichever comes first
    r = await router.start(config(hf, **{FLUX: "text-to-image"}))
    async with r.client() as c:
        resp = await c.post("/v1/images/generations", json={"model": FLUX, "prompt": "x", "n": 3})
        after = await c.post("/v1/images/generations", json={"model": FLUX, "prompt": "y"})
    assert resp.status_code == 400, resp.text
    assert "safety filter" in resp.json()["error"]["message"]
    assert after.status_code == 200  # nothing left behind blocks the next request
