from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, target, via_hf

P = REGISTRY["ovhcloud"]


def test_identity():
    assert P.base_url == "https://oai.endpoints.kepler.ai.cloud.ovh.net"
    assert P.env_keys == ("OVHCLOUD_API_KEY", "OVH_AI_ENDPOINTS_ACCESS_TOKEN")
    assert P.env_api_key({"OVH_AI_ENDPOINTS_ACCESS_TOKEN": "tok"}) == "tok"
    assert P.hf_routed is True


def test_urls():
    assert chat(P, direct(P)).url == "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/ovhcloud/v1/chat/completions"
    body = {"prompt": "Paris is", "max_tokens": 4}
    tgt = target(P, direct(P), task=TEXT_GENERATION, provider_model="Meta-Llama-3_3-70B-Instruct")
    req = P.build_completion(body, tgt)
    assert req.url == "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1/completions"
    assert sent(req) == {**body, "model": "Meta-Llama-3_3-70B-Instruct"}
    hf = P.build_completion(body, target(P, via_hf(P), task=TEXT_GENERATION))
    assert hf.url == "https://router.huggingface.co/ovhcloud/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"
