import base64

import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION
from hubroute.providers.steps import Done

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf
from .media import body, done_media, start
from .tapes import tapes

P = REGISTRY["nebius"]
CHAT_URL = "https://api.studio.nebius.ai/v1/chat/completions"


def test_identity_sold_directly_not_routed_by_hf():
    assert P.base_url == "https://api.studio.nebius.ai"
    assert P.env_keys == ("NEBIUS_API_KEY",)
    assert P.hf_routed is False


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/nebius/v1/chat/completions"
    body = {"prompt": "Paris is"}
    tgt = target(P, direct(P), task=TEXT_GENERATION, provider_model="meta-llama/Meta-Llama-3.1-8B")
    req = P.build_completion(body, tgt)
    assert req.url == "https://api.studio.nebius.ai/v1/completions"
    assert sent(req) == {"prompt": "Paris is", "model": "meta-llama/Meta-Llama-3.1-8B"}


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_recorded_traffic_replays():
    assert replay(P, CHAT_URL, direct(P)) == 2


IMAGES_URL = "https://api.studio.nebius.ai/v1/images/generations"
EMBEDDINGS_URL = "https://api.studio.nebius.ai/v1/embeddings"


def test_text_to_image_request():
    params = {"width": 512, "height": 512, "num_inference_steps": 4, "guidance_scale": 3.5, "seed": 2}
    req = start(P, direct(P), "text-to-image", "a cat", params, provider_model="black-forest-labs/flux-schnell").request
    assert (req.method, req.url) == ("POST", IMAGES_URL)
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    assert body(req) == {"prompt": "a cat", "width": 512, "height": 512, "num_inference_steps": 4, "seed": 2,
                         "response_format": "b64_json", "model": "black-forest-labs/flux-schnell"}


def test_recorded_image_traffic_replays():
    [tape] = tapes(IMAGES_URL)
    step = start(P, direct(P), "text-to-image", tape.request_json["prompt"], provider_model=tape.request_json["model"])
    assert step.request.url == tape.url
    assert body(step.request) == tape.request_json  # the body huggingface.js sent, field for field
    media = done_media(step.parse(tape.response_json()))
    assert media.content_type == "image/webp"
    assert media.data == base64.b64decode(tape.response_json()["data"][0]["b64_json"])
    with pytest.raises(ProviderResponseError):
        step.parse({"data": [{"url": "https://x/y.png"}]})


def test_feature_extraction_task_over_openai_embeddings():
    step = start(P, direct(P), "feature-extraction", ["a", "b"], provider_model="BAAI/bge-en-icl")
    assert step.request.url == EMBEDDINGS_URL
    assert body(step.request) == {"input": ["a", "b"], "model": "BAAI/bge-en-icl"}
    done = step.parse({"data": [{"embedding": [0.1, 0.2]}, {"embedding": [0.3, 0.4]}]})
    assert isinstance(done, Done) and done.value == [[0.1, 0.2], [0.3, 0.4]]
