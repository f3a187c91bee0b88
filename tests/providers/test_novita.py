import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION
from hubroute.providers.steps import Done

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf
from .media import body, hub_request, is_download, start, walk

P = REGISTRY["novita"]
CHAT_URL = "https://api.novita.ai/v3/openai/chat/completions"


def test_identity():
    assert P.base_url == "https://api.novita.ai"
    assert P.env_keys == ("NOVITA_API_KEY",)
    assert P.hf_routed is True


def test_urls_are_under_v3_openai():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/novita/v3/openai/chat/completions"
    body = {"prompt": "Paris is", "max_tokens": 4}
    tgt = target(P, direct(P), task=TEXT_GENERATION, provider_model="meta-llama/llama-3.1-8b-instruct")
    req = P.build_completion(body, tgt)
    assert req.url == "https://api.novita.ai/v3/openai/completions"
    assert sent(req) == {**body, "model": "meta-llama/llama-3.1-8b-instruct"}


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_recorded_traffic_replays():
    # chunks carry content_filter_results; the R1 distill stream keeps <think> inside content
    assert replay(P, CHAT_URL, direct(P)) == 3


WAN = "wan-t2v"
VIDEO_URL = "https://faas-output.novita.ai/v.mp4"


def test_text_to_video_request():
    req = start(P, direct(P), "text-to-video", "a cat", {"num_inference_steps": 20, "seed": 4},
                provider_model=WAN).request
    assert (req.method, req.url) == ("POST", "https://api.novita.ai/v3/hf/wan-t2v")
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    assert body(req) == {"prompt": "a cat", "num_inference_steps": 20, "seed": 4}
    assert start(P, via_hf(P), "text-to-video", "a cat", provider_model=WAN).request.url == \
        "https://router.huggingface.co/novita/v3/hf/wan-t2v"


@pytest.mark.parametrize("params", [{}, {"num_inference_steps": 20, "guidance_scale": 5.0, "seed": 4}])
def test_body_matches_huggingface_hub(params):
    ours = start(P, direct(P), "text-to-video", "a cat", params, provider_model=WAN).request
    theirs = hub_request("novita", "text-to-video", "a cat", dict(params), WAN)
    assert ours.url == theirs.url and body(ours) == theirs.json


def test_sync_answer_is_downloaded():
    step = start(P, direct(P), "text-to-video", "a cat", provider_model=WAN)
    assert is_download(step.parse({"video": {"video_url": VIDEO_URL, "video_type": "mp4"}}), VIDEO_URL)
    with pytest.raises(ProviderResponseError):
        step.parse({"video": {"video_url": None}})
    with pytest.raises(ProviderResponseError):
        step.parse({"unexpected": True})


def test_async_answer_is_polled():
    first = start(P, via_hf(P), "text-to-video", "a cat", provider_model=WAN)
    steps, last = walk(first, {"task_id": "abc"},
                       {"task": {"task_id": "abc", "status": "TASK_STATUS_PROCESSING"}},
                       {"task": {"task_id": "abc", "status": "TASK_STATUS_SUCCEED"},
                        "videos": [{"video_url": VIDEO_URL}]})
    for poll in steps[1:-1]:
        assert poll.poll
        assert poll.request.url == "https://router.huggingface.co/novita/v3/async/task-result?task_id=abc"
        assert poll.request.headers == {"authorization": f"Bearer {HF_KEY}"}
    assert is_download(last, VIDEO_URL)
    with pytest.raises(ProviderResponseError, match="nsfw"):
        walk(first, {"task_id": "abc"}, {"task": {"task_id": "abc", "status": "TASK_STATUS_FAILED", "reason": "nsfw"}})


def test_text_generation_task():
    step = start(P, direct(P), "text-generation", "Paris is", {"max_new_tokens": 4},
                 provider_model="meta-llama/llama-3.1-8b-instruct")
    assert step.request.url == "https://api.novita.ai/v3/openai/completions"
    assert body(step.request) == {"model": "meta-llama/llama-3.1-8b-instruct", "prompt": "Paris is", "max_tokens": 4}
    done = step.parse({"choices": [{"text": " Paris"}]})
    assert isinstance(done, Done) and done.value == [{"generated_text": " Paris"}]
