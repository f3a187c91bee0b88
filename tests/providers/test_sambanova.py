from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf

P = REGISTRY["sambanova"]
CHAT_URL = "https://api.sambanova.ai/v1/chat/completions"


def test_identity_sold_directly_not_routed_by_hf():
    assert P.base_url == "https://api.sambanova.ai"
    assert P.env_keys == ("SAMBANOVA_API_KEY",)
    assert P.hf_routed is False


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/sambanova/v1/chat/completions"
    req = P.build_completion({"prompt": "x"}, target(P, direct(P), task=TEXT_GENERATION))
    assert req.url == "https://api.sambanova.ai/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_ignored_params_are_passed_through_not_dropped():
    body = {"messages": [], "presence_penalty": 0.5, "logit_bias": {"1": 1}}
    assert sent(chat(P, direct(P), body, provider_model="Meta-Llama-3.1-8B-Instruct")) == {
        **body,
        "model": "Meta-Llama-3.1-8B-Instruct",
    }


def test_recorded_traffic_replays():
    # usage carries SambaNova's extra throughput fields; checking must keep them
    assert replay(P, CHAT_URL, direct(P)) == 6
