import pytest

from hubroute.errors import NotSupported
from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, target, via_hf

P = REGISTRY["groq"]


def test_identity():
    assert P.base_url == "https://api.groq.com"
    assert P.env_keys == ("GROQ_API_KEY",)
    assert P.hf_routed is True


def test_chat_urls_are_under_openai():
    assert chat(P, direct(P)).url == "https://api.groq.com/openai/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/groq/openai/v1/chat/completions"


def test_no_completions_route():
    with pytest.raises(NotSupported):
        P.build_completion({"prompt": "x"}, target(P, direct(P), task=TEXT_GENERATION))


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_fields_groq_rejects_with_400_are_dropped():
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "logprobs": True,
        "top_logprobs": 2,
        "logit_bias": {"50256": -100},
        "seed": 1,
    }
    payload = sent(chat(P, direct(P), body, provider_model="llama-3.3-70b-versatile"))
    assert payload == {"messages": [{"role": "user", "content": "hi"}], "seed": 1, "model": "llama-3.3-70b-versatile"}


def test_reasoning_passes_through():
    # the provider already uses `reasoning`, hubroute's field: chunks need no parsing
    assert P.reasoning_key is None
    assert not P.rewrites_chunks
    answer = P.check_chat({"choices": [{"message": {"content": "Hi", "reasoning": "r"}}]})
    assert answer["choices"][0]["message"] == {"content": "Hi", "reasoning": "r"}
