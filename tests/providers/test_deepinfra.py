from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, chat, direct, sent, target, via_hf

P = REGISTRY["deepinfra"]


def test_identity():
    assert P.base_url == "https://api.deepinfra.com"
    assert P.env_keys == ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN")
    assert P.env_api_key({"DEEPINFRA_TOKEN": "t"}) == "t"
    assert P.hf_routed is True


def test_chat_urls_are_under_v1_openai():
    assert chat(P, direct(P)).url == "https://api.deepinfra.com/v1/openai/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/deepinfra/v1/openai/chat/completions"


def test_completion_urls_are_under_v1_openai():
    body = {"prompt": "Paris is", "max_tokens": 5}
    req = P.build_completion(body, target(P, direct(P), task=TEXT_GENERATION, provider_model="meta-llama/X"))
    assert req.url == "https://api.deepinfra.com/v1/openai/completions"
    assert sent(req) == {**body, "model": "meta-llama/X"}
    hf = P.build_completion(body, target(P, via_hf(P), task=TEXT_GENERATION))
    assert hf.url == "https://router.huggingface.co/deepinfra/v1/openai/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_response_format_is_native():
    body = {"messages": [], "response_format": JSON_SCHEMA_FORMAT}
    assert sent(chat(P, direct(P), body))["response_format"] == JSON_SCHEMA_FORMAT
