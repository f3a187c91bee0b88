from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, SCHEMA, chat, direct, replay, sent, target, via_hf

P = REGISTRY["together"]
CHAT_URL = "https://api.together.xyz/v1/chat/completions"
COMPLETIONS_URL = "https://api.together.xyz/v1/completions"


def test_identity():
    assert P.base_url == "https://api.together.xyz"
    assert P.env_keys == ("TOGETHER_API_KEY",)
    assert P.hf_routed is True


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/together/v1/chat/completions"
    req = P.build_completion({"prompt": "x"}, target(P, via_hf(P), task=TEXT_GENERATION))
    assert req.url == "https://router.huggingface.co/together/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_json_schema_is_flattened():
    body = {"messages": [], "response_format": JSON_SCHEMA_FORMAT}
    assert sent(chat(P, direct(P), body))["response_format"] == {"type": "json_schema", "schema": SCHEMA}


def test_reasoning_field_passes_through():
    # the provider already uses `reasoning`, hubroute's field: chunks need no parsing
    assert P.reasoning_key is None
    assert not P.rewrites_chunks
    answer = P.check_chat({"choices": [{"message": {"content": "Hi", "reasoning": "r"}}]})
    assert answer["choices"][0]["message"] == {"content": "Hi", "reasoning": "r"}


def test_recorded_chat_traffic_replays():
    assert replay(P, CHAT_URL, direct(P)) == 6


def test_recorded_completion_traffic_replays():
    assert replay(P, COMPLETIONS_URL, direct(P), task=TEXT_GENERATION) == 3
