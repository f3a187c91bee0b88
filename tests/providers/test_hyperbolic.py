import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf
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
