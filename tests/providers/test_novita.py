from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf

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
