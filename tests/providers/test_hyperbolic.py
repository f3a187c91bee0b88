import base64

import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf
from .media import body, done_media, start
from .tapes import tapes

P = REGISTRY["hyperbolic"]
CHAT_URL = "https://api.hyperbolic.xyz/v1/chat/completions"


def test_identity_sold_directly_not_routed_by_hf():
    assert P.base_url == "https://api.hyperbolic.xyz"
    assert P.env_keys == ("HYPERBOLIC_API_KEY",)
    assert P.hf_routed is False


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/hyperbolic/v1/chat/completions"
    body = {"prompt": "The three laws of robotics are:", "max_tokens": 16}
    tgt = target(P, direct(P), task=TEXT_GENERATION, provider_model="meta-llama/Meta-Llama-3.1-405B")
    req = P.build_completion(body, tgt)
    assert req.url == "https://api.hyperbolic.xyz/v1/completions"
    assert sent(req) == {**body, "model": "meta-llama/Meta-Llama-3.1-405B"}


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_recorded_traffic_replays():
    # streams carry a usage object on every chunk
    assert replay(P, CHAT_URL, direct(P)) == 4


def test_recorded_error_bodies_are_refused():
    for tape in tapes(CHAT_URL, status=None):
        if tape.status != 200:
            with pytest.raises(ProviderResponseError):
                P.check_chat(tape.response_json())


IMAGES_URL = "https://api.hyperbolic.xyz/v1/images/generations"


def test_text_to_image_request():
    params = {"num_inference_steps": 30, "guidance_scale": 5.0, "seed": 1}
    req = start(P, direct(P), "text-to-image", "a cat", params, provider_model="FLUX.1-dev").request
    assert (req.method, req.url) == ("POST", IMAGES_URL)
    assert req.headers == {"content-type": "application/json", "authorization": f"Bearer {DIRECT_KEY}"}
    # the model goes as `model_name`; width and height are required: 512 unless given
    assert body(req) == {"prompt": "a cat", "model_name": "FLUX.1-dev", "width": 512, "height": 512, "steps": 30,
                         "cfg_scale": 5.0, "seed": 1}


def test_recorded_image_traffic_replays():
    ok = [t for t in tapes(IMAGES_URL, status=None) if t.status == 200]
    assert len(ok) == 1
    tape = ok[0]
    sent_body = tape.request_json
    step = start(P, direct(P), "text-to-image", sent_body["prompt"], {"width": 128, "height": 128},
                 provider_model=sent_body["model_name"])
    assert step.request.url == tape.url
    assert body(step.request) == sent_body
    media = done_media(step.parse(tape.response_json()))
    assert media.content_type == "image/png"
    assert media.data == base64.b64decode(tape.response_json()["images"][0]["image"])


def test_recorded_refusal_of_model_is_why_model_name_is_used():
    [bad] = [t for t in tapes(IMAGES_URL, status=None) if t.status == 422]
    assert "model_name" in bad.response_body
    with pytest.raises(ProviderResponseError):
        start(P, direct(P), "text-to-image", "x").parse(bad.response_json())
