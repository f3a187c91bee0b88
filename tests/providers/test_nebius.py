from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf

P = REGISTRY["nebius"]
CHAT_URL = "https://api.studio.nebius.ai/v1/chat/completions"


def test_identity_sold_directly_not_routed_by_hf():
    assert P.base_url == "https://api.studio.nebius.ai"
    assert P.env_keys == ("NEBIUS_API_KEY",)
    assert P.hf_routed is False


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/nebius/v1/chat/completions"
    body = {"prompt": "Paris is"}
    tgt = target(P, direct(P), task=TEXT_GENERATION, provider_model="meta-llama/Meta-Llama-3.1-8B")
    req = P.build_completion(body, tgt)
    assert req.url == "https://api.studio.nebius.ai/v1/completions"
    assert sent(req) == {"prompt": "Paris is", "model": "meta-llama/Meta-Llama-3.1-8B"}


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_recorded_traffic_replays():
    assert replay(P, CHAT_URL, direct(P)) == 2
