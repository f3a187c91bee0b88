from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, chat, direct, replay, sent, target, via_hf

P = REGISTRY["fireworks-ai"]
CHAT_URL = "https://api.fireworks.ai/inference/v1/chat/completions"


def test_identity():
    assert P.base_url == "https://api.fireworks.ai"
    assert P.env_keys == ("FIREWORKS_API_KEY",)
    assert P.hf_routed is True


def test_urls_are_under_inference():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/fireworks-ai/inference/v1/chat/completions"
    req = P.build_completion({"prompt": "x"}, target(P, direct(P), task=TEXT_GENERATION))
    assert req.url == "https://api.fireworks.ai/inference/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_payload_uses_account_model_path_and_native_json_schema():
    body = {"messages": [{"role": "user", "content": "hi"}], "response_format": JSON_SCHEMA_FORMAT}
    payload = sent(chat(P, direct(P), body, provider_model="accounts/fireworks/models/deepseek-r1"))
    assert payload == {**body, "model": "accounts/fireworks/models/deepseek-r1"}


def test_recorded_traffic_replays():
    # deepseek-r1 answers with its <think> block inside `content`; nothing to rename
    assert replay(P, CHAT_URL, direct(P)) == 2
