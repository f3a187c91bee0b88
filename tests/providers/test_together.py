import base64

import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION
from hubroute.providers.steps import Done

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, SCHEMA, chat, direct, replay, sent, target, via_hf
from .media import PNG, b64, body, done_media, hub_request, image, is_download, start, walk
from .tapes import tapes

P = REGISTRY["together"]
CHAT_URL = "https://api.together.xyz/v1/chat/completions"
COMPLETIONS_URL = "https://api.together.xyz/v1/completions"


def test_identity():
    assert P.base_url == "https://api.together.xyz"
    assert P.env_keys == ("TOGETHER_API_KEY",)
    assert P.hf_routed is True


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/together/v1/chat/completions"
    req = P.build_completion({"prompt": "x"}, target(P, via_hf(P), task=TEXT_GENERATION))
    assert req.url == "https://router.huggingface.co/together/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_json_schema_is_flattened():
    body = {"messages": [], "response_format": JSON_SCHEMA_FORMAT}
    assert sent(chat(P, direct(P), body))["response_format"] == {"type": "json_schema", "schema": SCHEMA}


def test_reasoning_field_passes_through():
    # the provider already uses `reasoning`, hubroute's field: chunks need no parsing
    assert P.reasoning_key is None
    assert not P.rewrites_chunks
    answer = P.check_chat({"choices": [{"message": {"content": "Hi", "reasoning": "r"}}]})
    assert answer["choices"][0]["message"] == {"content": "Hi", "reasoning": "r"}


def test_recorded_chat_traffic_replays():
    assert replay(P, CHAT_URL, direct(P)) == 6


def test_recorded_completion_traffic_replays():
    assert replay(P, COMPLETIONS_URL, direct(P), task=TEXT_GENERATION) == 3


# --- media tasks --------------------------------------------------------------------------------

IMAGES_URL = "https://api.together.xyz/v1/images/generations"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
PNG_URI = "data:image/png;base64," + b64(PNG)


def test_media_routes():
    assert {t: P.routes[t] for t in ("text-to-image", "image-to-image", "text-to-speech", "text-to-video",
                                     "image-to-video")} == {
        "text-to-image": "/v1/images/generations", "image-to-image": "/v1/images/generations",
        "text-to-speech": "/v1/audio/speech", "text-to-video": "/v2/videos", "image-to-video": "/v2/videos"}


def test_text_to_image_request_direct_and_via_hf():
    params = {"num_inference_steps": 4, "width": 512, "height": 256, "seed": 7, "negative_prompt": "blur"}
    req = start(P, direct(P), "text-to-image", "a tortoise", params, provider_model=SDXL).request
    assert (req.method, req.url) == ("POST", IMAGES_URL)
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    assert body(req) == {"prompt": "a tortoise", "response_format": "base64", "steps": 4, "width": 512,
                         "height": 256, "seed": 7, "negative_prompt": "blur", "model": SDXL}
    hf = start(P, via_hf(P), "text-to-image", "a tortoise", provider_model=SDXL).request
    assert hf.url == "https://router.huggingface.co/together/v1/images/generations"
    assert hf.headers["authorization"] == f"Bearer {HF_KEY}"


@pytest.mark.parametrize(("task", "inputs", "hub_inputs", "params"), [
    ("text-to-image", "a tortoise", "a tortoise", {"num_inference_steps": 4, "width": 512, "seed": 7}),
    ("image-to-image", image(), PNG_URI, {"prompt": "make it red", "num_inference_steps": 20}),
    ("text-to-speech", "Hello", "Hello", {}),
    ("text-to-video", "a cat", "a cat", {"num_inference_steps": 20, "seed": 1}),
    ("image-to-video", image(), PNG_URI, {"prompt": "it moves", "seed": 1}),
])
def test_bodies_match_huggingface_hub(task, inputs, hub_inputs, params):
    for provider_id in (SDXL, "black-forest-labs/FLUX.1-kontext-dev"):
        ours = start(P, direct(P), task, inputs, params, provider_model=provider_id).request
        theirs = hub_request("together", task, hub_inputs, dict(params), provider_id)
        assert ours.url == theirs.url
        assert body(ours) == theirs.json


def test_image_to_image_sends_the_image_as_the_model_expects():
    kontext = body(start(P, direct(P), "image-to-image", image(), {"target_size": {"width": 64, "height": 32}},
                         provider_model="black-forest-labs/FLUX.1-kontext-pro").request)
    assert kontext == {"prompt": "", "image_url": PNG_URI, "response_format": "base64", "width": 64, "height": 32,
                       "model": "black-forest-labs/FLUX.1-kontext-pro"}
    other = body(start(P, direct(P), "image-to-image", image(), provider_model="google/flash-image-2.5").request)
    assert other["reference_images"] == [PNG_URI] and "image_url" not in other


def test_recorded_image_answers_parse_to_jpeg():
    recorded = tapes(IMAGES_URL)
    assert len(recorded) == 5
    for tape in recorded:
        step = start(P, direct(P), "text-to-image", tape.request_json["prompt"], provider_model=SDXL)
        assert body(step.request) == {"prompt": tape.request_json["prompt"], "response_format": "base64",
                                      "model": SDXL}
        media = done_media(step.parse(tape.response_json()))
        assert media.content_type == "image/jpeg"
        assert media.data == base64.b64decode(tape.response_json()["data"][0]["b64_json"])


def test_image_answer_without_b64_is_an_error():
    step = start(P, direct(P), "text-to-image", "x")
    for bad in ({"data": []}, {"data": [{"url": "https://x"}]}, {"error": {"message": "nsfw"}}, [], None):
        with pytest.raises(ProviderResponseError):
            step.parse(bad)


def test_text_to_speech_is_raw_audio():
    step = start(P, direct(P), "text-to-speech", "Hello", {"generation_parameters": {"temperature": 0.5}},
                 provider_model="cartesia/sonic")
    assert step.request.url == "https://api.together.xyz/v1/audio/speech"
    assert body(step.request) == {"input": "Hello", "model": "cartesia/sonic"}
    with pytest.raises(ProviderResponseError):  # a JSON answer where audio was due
        step.parse({"id": "x"})


@pytest.mark.parametrize(("task", "inputs"), [("text-to-video", "a cat"), ("image-to-video", image())])
def test_video_job_submit_poll_download(task, inputs):
    first = start(P, via_hf(P), task, inputs, provider_model="Wan-AI/Wan2.2-T2V-A14B")
    assert first.request.url == "https://router.huggingface.co/together/v2/videos"
    steps, last = walk(first, {"id": "vid_1", "status": "queued"}, {"id": "vid_1", "status": "in_progress"},
                       {"id": "vid_1", "status": "completed", "outputs": {"video_url": "https://cdn.together/v.mp4"}})
    for poll in steps[1:3]:
        assert poll.poll and poll.request.method == "GET"
        assert poll.request.url == "https://router.huggingface.co/together/v2/videos/vid_1"
        assert poll.request.headers == {"authorization": f"Bearer {HF_KEY}"}
    assert is_download(last, "https://cdn.together/v.mp4")


def test_video_job_failures():
    first = start(P, direct(P), "text-to-video", "a cat", {"negative_prompt": ["blur", "text"]})
    assert body(first.request)["negative_prompt"] == "blur, text"
    with pytest.raises(ProviderResponseError, match="out of credits"):
        walk(first, {"id": "v", "status": "queued"}, {"id": "v", "status": "failed",
                                                      "error": {"message": "out of credits"}})
    with pytest.raises(ProviderResponseError):
        walk(first, {"id": "v", "status": "completed", "outputs": {}})
    with pytest.raises(ProviderResponseError):
        walk(first, {"status": "queued"})  # no job id
    with pytest.raises(ProviderResponseError, match="cancelled"):
        walk(first, {"id": "v", "status": "cancelled"})


def test_text_generation_task_over_completions():
    step = start(P, direct(P), "text-generation", "Paris is",
                 {"max_new_tokens": 5, "temperature": 0.2, "details": True, "return_full_text": True},
                 provider_model="meta-llama/Llama-3-8b")
    assert step.request.url == COMPLETIONS_URL
    assert body(step.request) == {"model": "meta-llama/Llama-3-8b", "prompt": "Paris is", "max_tokens": 5,
                                  "temperature": 0.2}
    done = step.parse({"choices": [{"text": " the capital", "index": 0}]})
    assert isinstance(done, Done) and done.value == [{"generated_text": "Paris is the capital"}]


def test_openai_speech_options_reach_the_speech_api():
    from hubroute.providers.steps import TaskCall

    call = TaskCall("text-to-speech", "Hello", {}, extra={"voice": "af_bella", "speed": 1.2, "user": "u1"})
    req = P.start_task(call, target(P, direct(P), task="text-to-speech", provider_model="hexgrad/Kokoro-82M")).request
    assert sent(req) == {"input": "Hello", "model": "hexgrad/Kokoro-82M", "voice": "af_bella",
                         "speed": 1.2}  # what the API does not take stays out
