from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, via_hf

P = REGISTRY["nscale"]


def test_identity():
    assert P.base_url == "https://inference.api.nscale.com"
    assert P.env_keys == ("NSCALE_API_KEY", "NSCALE_SERVICE_TOKEN")
    assert P.env_api_key({"NSCALE_SERVICE_TOKEN": "svc"}) == "svc"
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational"}


def test_chat_urls():
    assert chat(P, direct(P)).url == "https://inference.api.nscale.com/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/nscale/v1/chat/completions"


def test_headers_and_payload():
    req = chat(P, direct(P), provider_model="meta-llama/Llama-3.1-8B-Instruct")
    assert req.headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert sent(req)["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"
