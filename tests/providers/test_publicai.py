from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, via_hf

P = REGISTRY["publicai"]


def test_identity():
    assert P.base_url == "https://api.publicai.co"
    assert P.env_keys == ("PUBLICAI_API_KEY",)
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational"}


def test_chat_urls():
    assert chat(P, direct(P)).url == "https://api.publicai.co/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/publicai/v1/chat/completions"


def test_headers_and_payload():
    req = chat(P, direct(P), provider_model="swiss-ai/apertus-8b-instruct")
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    assert sent(req)["model"] == "swiss-ai/apertus-8b-instruct"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"
