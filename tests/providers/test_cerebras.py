from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf

P = REGISTRY["cerebras"]
CHAT_URL = "https://api.cerebras.ai/v1/chat/completions"


def test_identity():
    assert P.base_url == "https://api.cerebras.ai"
    assert P.env_keys == ("CEREBRAS_API_KEY",)
    assert P.hf_routed is True


def test_urls_direct_and_via_hf():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/cerebras/v1/chat/completions"
    req = P.build_completion({"prompt": "Paris is"}, target(P, direct(P), task=TEXT_GENERATION))
    assert req.url == "https://api.cerebras.ai/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_openai_platform_only_params_are_dropped():
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "store": True,
        "service_tier": "auto",
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    payload = sent(chat(P, direct(P), body, provider_model="llama3.1-8b"))
    assert payload == {
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "model": "llama3.1-8b",
    }


def test_reasoning_field_passes_through():
    # the provider already uses `reasoning`, hubroute's field: chunks need no parsing
    assert P.reasoning_key is None
    assert not P.rewrites_chunks
    answer = P.check_chat({"choices": [{"message": {"content": "Hi", "reasoning": "r"}}]})
    assert answer["choices"][0]["message"] == {"content": "Hi", "reasoning": "r"}


def test_recorded_traffic_replays():
    # includes a stream whose last chunk carries usage and time_info and no [DONE]
    assert replay(P, CHAT_URL, direct(P)) == 2
