import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, chat, direct, sent, via_hf
from .media import body, hub_request, is_download, start, walk

P = REGISTRY["zai-org"]
CHANNEL = {"x-source-channel": "hugging_face", "accept-language": "en-US,en"}


def test_identity():
    assert P.name == "zai-org"
    assert P.base_url == "https://api.z.ai"
    assert P.env_keys == ("ZAI_API_KEY",)
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational", "text-to-image"}


def test_chat_urls():
    assert chat(P, direct(P)).url == "https://api.z.ai/api/paas/v4/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/zai-org/api/paas/v4/chat/completions"


def test_channel_headers_on_every_request():
    assert chat(P, direct(P)).headers == {
        "content-type": "application/json",
        **CHANNEL,
        "authorization": f"Bearer {DIRECT_KEY}",
    }
    assert chat(P, via_hf(P)).headers == {
        "content-type": "application/json",
        **CHANNEL,
        "authorization": f"Bearer {HF_KEY}",
    }


def test_json_schema_falls_back_to_json_mode():
    body = {"messages": [{"role": "user", "content": "hi"}], "response_format": JSON_SCHEMA_FORMAT}
    payload = sent(chat(P, direct(P), body, provider_model="glm-4.6"))
    assert payload == {"messages": body["messages"], "response_format": {"type": "json_object"}, "model": "glm-4.6"}


def test_reasoning_content_is_renamed_to_reasoning():
    answer = P.check_chat({"choices": [{"message": {"content": "42", "reasoning_content": "6*7"}}]})
    assert answer["choices"][0]["message"] == {"content": "42", "reasoning": "6*7"}
    chunk = P.adapt_chunk({"choices": [{"delta": {"reasoning_content": "6"}}]})
    assert chunk == {"choices": [{"delta": {"reasoning": "6"}}]}


SUBMIT = "/api/paas/v4/async/images/generations"
IMAGE_URL = "https://cdn.z.ai/img/1.png"


def test_text_to_image_request_direct_and_via_hf():
    req = start(P, direct(P), "text-to-image", "a cat", {"width": 1024, "height": 768, "seed": 3},
                provider_model="cogview-4").request
    assert (req.method, req.url) == ("POST", "https://api.z.ai" + SUBMIT)
    assert req.headers == {"content-type": "application/json", **CHANNEL, "authorization": f"Bearer {DIRECT_KEY}"}
    assert body(req) == {"model": "cogview-4", "prompt": "a cat", "size": "1024x768", "seed": 3}
    hf = start(P, via_hf(P), "text-to-image", "a cat").request
    assert hf.url == "https://router.huggingface.co/zai-org" + SUBMIT
    assert hf.headers["authorization"] == f"Bearer {HF_KEY}"


@pytest.mark.parametrize("params", [{}, {"width": 1024, "height": 768}, {"width": 512, "seed": 9}])
def test_body_matches_huggingface_hub(params):
    ours = start(P, direct(P), "text-to-image", "a cat", params, provider_model="glm-image").request
    theirs = hub_request("zai-org", "text-to-image", "a cat", dict(params), "glm-image")
    assert ours.url == theirs.url and body(ours) == theirs.json
    assert ours.headers["x-source-channel"] == theirs.headers["x-source-channel"]


def test_job_polls_the_async_result_route_then_downloads():
    first = start(P, via_hf(P), "text-to-image", "a cat", provider_model="glm-image")
    steps, last = walk(first, {"id": "t-1", "task_status": "PROCESSING"}, {"id": "t-1", "task_status": "PROCESSING"},
                       {"id": "t-1", "task_status": "SUCCESS", "image_result": [{"url": IMAGE_URL}]})
    for poll in steps[1:-1]:
        assert poll.poll and poll.request.method == "GET"
        assert poll.request.url == "https://router.huggingface.co/zai-org/api/paas/v4/async-result/t-1"
        assert poll.request.headers == {**CHANNEL, "authorization": f"Bearer {HF_KEY}"}
    assert is_download(last, IMAGE_URL)
    # an answer that is already done needs no poll
    _, at_once = walk(first, {"id": "t-2", "task_status": "SUCCESS", "image_result": [{"url": IMAGE_URL}]})
    assert is_download(at_once, IMAGE_URL)


def test_job_failures():
    first = start(P, direct(P), "text-to-image", "a cat")
    with pytest.raises(ProviderResponseError, match="failed"):
        walk(first, {"id": "t", "task_status": "PROCESSING"}, {"id": "t", "task_status": "FAIL"})
    with pytest.raises(ProviderResponseError, match="sensitive"):
        walk(first, {"id": "t", "error": {"code": "1301", "message": "sensitive content"}})
    with pytest.raises(ProviderResponseError, match="image_result"):
        walk(first, {"id": "t", "task_status": "SUCCESS", "image_result": []})
    with pytest.raises(ProviderResponseError, match="'id'"):
        walk(first, {"task_status": "PROCESSING"})
