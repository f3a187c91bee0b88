from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, target, via_hf
from .media import body, hub_request, start

P = REGISTRY["scaleway"]


def test_identity():
    assert P.base_url == "https://api.scaleway.ai"
    assert P.env_keys == ("SCW_SECRET_KEY",)
    assert P.hf_routed is True


def test_urls():
    assert chat(P, direct(P)).url == "https://api.scaleway.ai/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/scaleway/v1/chat/completions"
    body = {"prompt": "Paris is"}
    req = P.build_completion(body, target(P, direct(P), task=TEXT_GENERATION, provider_model="llama-3.1-8b-instruct"))
    assert req.url == "https://api.scaleway.ai/v1/completions"
    assert sent(req) == {"prompt": "Paris is", "model": "llama-3.1-8b-instruct"}


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_feature_extraction_task_matches_huggingface_hub():
    step = start(P, via_hf(P), "feature-extraction", ["a", "b"], provider_model="bge-multilingual-gemma2")
    assert step.request.url == "https://router.huggingface.co/scaleway/v1/embeddings"
    assert body(step.request) == hub_request("scaleway", "feature-extraction", ["a", "b"], {},
                                             "bge-multilingual-gemma2").json
    assert step.parse({"data": [{"embedding": [0.5]}, {"embedding": [0.25]}]}).value == [[0.5], [0.25]]
