import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION
from hubroute.providers.steps import Done

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, target, via_hf
from .media import body, hub_request, start

P = REGISTRY["featherless-ai"]


def test_identity():
    assert P.name == "featherless-ai"
    assert P.base_url == "https://api.featherless.ai"
    assert P.env_keys == ("FEATHERLESS_API_KEY",)
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational", "text-generation"}


def test_chat_urls():
    assert chat(P, direct(P)).url == "https://api.featherless.ai/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/featherless-ai/v1/chat/completions"


def test_completion_urls_and_payload():
    body = {"prompt": "Once upon", "max_tokens": 8, "stream": True}
    req = P.build_completion(body, target(P, direct(P), task=TEXT_GENERATION, provider_model="Qwen/Qwen3-8B"))
    assert req.url == "https://api.featherless.ai/v1/completions"
    assert req.stream is True
    assert sent(req) == {**body, "model": "Qwen/Qwen3-8B"}
    hf = P.build_completion(body, target(P, via_hf(P), task=TEXT_GENERATION))
    assert hf.url == "https://router.huggingface.co/featherless-ai/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_text_generation_task_request_and_answer():
    params = {"max_new_tokens": 8, "temperature": 0.5, "top_p": 0.9, "stop": ["\n"], "seed": 1}
    step = start(P, via_hf(P), "text-generation", "Once upon", params, provider_model="Qwen/Qwen3-8B")
    assert step.request.url == "https://router.huggingface.co/featherless-ai/v1/completions"
    assert step.request.headers["authorization"] == f"Bearer {HF_KEY}"
    assert body(step.request) == {"model": "Qwen/Qwen3-8B", "prompt": "Once upon", "max_tokens": 8,
                                  "temperature": 0.5, "top_p": 0.9, "stop": ["\n"], "seed": 1}
    theirs = hub_request("featherless-ai", "text-generation", "Once upon", dict(params), "Qwen/Qwen3-8B")
    assert body(step.request) == theirs.json  # huggingface_hub's helper sends the same
    done = step.parse({"choices": [{"text": " a time", "finish_reason": "length"}]})
    assert isinstance(done, Done) and done.value == [{"generated_text": " a time"}]
    for bad in ({"choices": []}, {"error": "x"}, {"choices": [{"text": None}]}):
        with pytest.raises(ProviderResponseError):
            step.parse(bad)
