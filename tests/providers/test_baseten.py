from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, via_hf

P = REGISTRY["baseten"]


def test_identity():
    assert P.base_url == "https://inference.baseten.co"
    assert P.env_keys == ("BASETEN_API_KEY",)
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational"}


def test_chat_url_direct_and_via_hf():
    assert chat(P, direct(P)).url == "https://inference.baseten.co/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/baseten/v1/chat/completions"


def test_direct_key_uses_api_key_scheme_but_hf_token_is_bearer():
    assert chat(P, direct(P)).headers["authorization"] == f"Api-Key {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_payload_carries_provider_model_id_and_is_otherwise_untouched():
    body = {"model": "deepseek-ai/DeepSeek-V3.1", "messages": [{"role": "user", "content": "hi"}], "top_p": 0.9}
    req = chat(P, direct(P), body, provider_model="deepseek-ai/DeepSeek-V3.1-baseten")
    assert sent(req) == {**body, "model": "deepseek-ai/DeepSeek-V3.1-baseten"}
    assert body["model"] == "deepseek-ai/DeepSeek-V3.1"  # the caller's body is not mutated
