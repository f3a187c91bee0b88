from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, target, via_hf

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
