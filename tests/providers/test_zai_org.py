from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, chat, direct, sent, via_hf

P = REGISTRY["zai-org"]
CHANNEL = {"x-source-channel": "hugging_face", "accept-language": "en-US,en"}


def test_identity():
    assert P.name == "zai-org"
    assert P.base_url == "https://api.z.ai"
    assert P.env_keys == ("ZAI_API_KEY",)
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational"}


def test_chat_urls():
    assert chat(P, direct(P)).url == "https://api.z.ai/api/paas/v4/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/zai-org/api/paas/v4/chat/completions"


def test_channel_headers_on_every_request():
    assert chat(P, direct(P)).headers == {
        "content-type": "application/json",
        **CHANNEL,
        "authorization": f"Bearer {DIRECT_KEY}",
    }
    assert chat(P, via_hf(P)).headers == {
        "content-type": "application/json",
        **CHANNEL,
        "authorization": f"Bearer {HF_KEY}",
    }


def test_json_schema_falls_back_to_json_mode():
    body = {"messages": [{"role": "user", "content": "hi"}], "response_format": JSON_SCHEMA_FORMAT}
    payload = sent(chat(P, direct(P), body, provider_model="glm-4.6"))
    assert payload == {"messages": body["messages"], "response_format": {"type": "json_object"}, "model": "glm-4.6"}


def test_reasoning_content_is_renamed_to_reasoning():
    answer = P.check_chat({"choices": [{"message": {"content": "42", "reasoning_content": "6*7"}}]})
    assert answer["choices"][0]["message"] == {"content": "42", "reasoning": "6*7"}
    chunk = P.adapt_chunk({"choices": [{"delta": {"reasoning_content": "6"}}]})
    assert chunk == {"choices": [{"delta": {"reasoning": "6"}}]}
