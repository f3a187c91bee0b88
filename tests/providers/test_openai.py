import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, target, via_hf
from .tapes import tapes

P = REGISTRY["openai"]
CHAT_URL = "https://api.openai.com/v1/chat/completions"


def test_identity_direct_only():
    assert P.base_url == "https://api.openai.com"
    assert P.env_keys == ("OPENAI_API_KEY",)
    assert P.hf_routed is False


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    # mechanically buildable, but the routing layer never sends OpenAI through HF (hf_routed is False)
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/openai/v1/chat/completions"
    req = P.build_completion({"prompt": "x"}, target(P, direct(P), task=TEXT_GENERATION))
    assert req.url == "https://api.openai.com/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_recorded_traffic_replays():
    assert replay(P, CHAT_URL, direct(P)) == 3


def test_recorded_error_body_is_refused():
    (bad,) = tapes(CHAT_URL, status=400)
    with pytest.raises(ProviderResponseError):
        P.check_chat(bad.response_json())
