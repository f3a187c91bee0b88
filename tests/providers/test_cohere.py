from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, SCHEMA, chat, direct, replay, sent, via_hf

P = REGISTRY["cohere"]
CHAT_URL = "https://api.cohere.com/compatibility/v1/chat/completions"


def test_identity():
    assert P.base_url == "https://api.cohere.com"
    assert P.env_keys == ("COHERE_API_KEY", "CO_API_KEY")
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational"}


def test_env_key_order():
    assert P.env_api_key({"CO_API_KEY": "b"}) == "b"
    assert P.env_api_key({"COHERE_API_KEY": "a", "CO_API_KEY": "b"}) == "a"
    assert P.env_api_key({}) is None


def test_urls_direct_and_via_hf():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/cohere/compatibility/v1/chat/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_json_schema_goes_inside_json_object_mode():
    body = {"messages": [{"role": "user", "content": "hi"}], "response_format": JSON_SCHEMA_FORMAT}
    payload = sent(chat(P, direct(P), body, provider_model="command-r7b-12-2024"))
    assert payload["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert payload["model"] == "command-r7b-12-2024"
    # other formats pass through untouched
    plain = {"messages": [], "response_format": {"type": "json_object"}}
    assert sent(chat(P, direct(P), plain))["response_format"] == {"type": "json_object"}


def test_recorded_traffic_replays():
    assert replay(P, CHAT_URL, direct(P)) == 2
