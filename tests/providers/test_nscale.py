import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, sent, via_hf
from .media import PNG, b64, body, done_media, hub_request, start

P = REGISTRY["nscale"]


def test_identity():
    assert P.base_url == "https://inference.api.nscale.com"
    assert P.env_keys == ("NSCALE_API_KEY", "NSCALE_SERVICE_TOKEN")
    assert P.env_api_key({"NSCALE_SERVICE_TOKEN": "svc"}) == "svc"
    assert P.hf_routed is True
    assert set(P.tasks) == {"conversational", "text-to-image", "feature-extraction"}


def test_chat_urls():
    assert chat(P, direct(P)).url == "https://inference.api.nscale.com/v1/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/nscale/v1/chat/completions"


def test_headers_and_payload():
    req = chat(P, direct(P), provider_model="meta-llama/Llama-3.1-8B-Instruct")
    assert req.headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert sent(req)["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


FLUX = "black-forest-labs/FLUX.1-schnell"


def test_text_to_image_request():
    params = {"width": 512, "height": 256, "num_inference_steps": 4, "guidance_scale": 3.5, "seed": 1}
    req = start(P, direct(P), "text-to-image", "a cat", params, provider_model=FLUX).request
    assert (req.method, req.url) == ("POST", "https://inference.api.nscale.com/v1/images/generations")
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    assert body(req) == {"response_format": "b64_json", "prompt": "a cat", "model": FLUX, "size": "512x256",
                         "guidance_scale": 3.5, "seed": 1}
    hf = start(P, via_hf(P), "text-to-image", "a cat", {"width": 64}).request
    assert hf.url == "https://router.huggingface.co/nscale/v1/images/generations"
    assert hf.headers["authorization"] == f"Bearer {HF_KEY}"
    assert body(hf)["width"] == 64 and "size" not in body(hf)  # a size needs both sides


@pytest.mark.parametrize("params", [{}, {"width": 512, "height": 256, "num_inference_steps": 4, "seed": 3},
                                    {"guidance_scale": 2.0, "negative_prompt": "blur"}])
def test_body_matches_huggingface_hub(params):
    ours = start(P, direct(P), "text-to-image", "a cat", params, provider_model=FLUX).request
    theirs = hub_request("nscale", "text-to-image", "a cat", dict(params), FLUX)
    assert ours.url == theirs.url and body(ours) == theirs.json


def test_answer_is_decoded():
    step = start(P, direct(P), "text-to-image", "a cat")
    media = done_media(step.parse({"created": 1, "data": [{"b64_json": b64(PNG)}]}))
    assert media.data == PNG and media.content_type == "image/png"
    with pytest.raises(ProviderResponseError):
        step.parse({"data": [{"b64_json": ""}]})


def test_embeddings_are_openai_shaped():
    step = start(P, direct(P), "feature-extraction", ["a", "b"], provider_model="Qwen/Qwen3-Embedding-8B")
    assert step.request.url == "https://inference.api.nscale.com/v1/embeddings"
    assert step.request.headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert body(step.request) == {"input": ["a", "b"], "model": "Qwen/Qwen3-Embedding-8B"}
    assert step.parse({"data": [{"embedding": [0.5]}, {"embedding": [0.25]}]}).value == [[0.5], [0.25]]
    with pytest.raises(ProviderResponseError):
        step.parse({"object": "list"})
