from hubroute.providers import REGISTRY, TEXT_GENERATION

from .helpers import DIRECT_KEY, HF_KEY, chat, direct, replay, sent, target, via_hf
from .media import body, start
from .tapes import tapes

P = REGISTRY["sambanova"]
CHAT_URL = "https://api.sambanova.ai/v1/chat/completions"


def test_identity_sold_directly_not_routed_by_hf():
    assert P.base_url == "https://api.sambanova.ai"
    assert P.env_keys == ("SAMBANOVA_API_KEY",)
    assert P.hf_routed is False


def test_urls():
    assert chat(P, direct(P)).url == CHAT_URL
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/sambanova/v1/chat/completions"
    req = P.build_completion({"prompt": "x"}, target(P, direct(P), task=TEXT_GENERATION))
    assert req.url == "https://api.sambanova.ai/v1/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_ignored_params_are_passed_through_not_dropped():
    body = {"messages": [], "presence_penalty": 0.5, "logit_bias": {"1": 1}}
    assert sent(chat(P, direct(P), body, provider_model="Meta-Llama-3.1-8B-Instruct")) == {
        **body,
        "model": "Meta-Llama-3.1-8B-Instruct",
    }


def test_recorded_traffic_replays():
    # usage carries SambaNova's extra throughput fields; checking must keep them
    assert replay(P, CHAT_URL, direct(P)) == 6


def test_recorded_embeddings_replay_through_the_feature_extraction_task():
    [tape] = tapes("https://api.sambanova.ai/v1/embeddings")
    recorded = tape.request_json
    step = start(P, direct(P), "feature-extraction", recorded["input"], provider_model=recorded["model"])
    assert step.request.url == tape.url
    assert step.request.headers["authorization"] == f"Bearer {DIRECT_KEY}"
    # huggingface.js also sent HF's `inputs`; SambaNova reads OpenAI's `input`
    assert body(step.request) == {k: v for k, v in recorded.items() if k != "inputs"}
    vectors = step.parse(tape.response_json()).value
    assert len(vectors) == 1 and len(vectors[0]) == len(tape.response_json()["data"][0]["embedding"]) > 100
