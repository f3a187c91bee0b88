import base64

import orjson
import pytest

from hubroute.errors import NotSupported, ProviderResponseError
from hubroute.inputs import Binary
from hubroute.providers import REGISTRY, TEXT_GENERATION
from hubroute.providers._jobs import Done, TaskCall

from .helpers import HF_KEY, JSON_SCHEMA_FORMAT, SCHEMA, chat, replay, sent, target, via_hf
from .tapes import tapes

P = REGISTRY["hf-inference"]
ROOT = "https://router.huggingface.co/hf-inference/models"
MISTRAL_CHAT = f"{ROOT}/mistralai/Mistral-7B-Instruct-v0.2/v1/chat/completions"
ZEPHYR_CHAT = f"{ROOT}/HuggingFaceH4/zephyr-7b-beta/v1/chat/completions"


def test_reachable_only_through_hf():
    assert P.base_url is None
    assert P.env_keys == ()
    assert P.hf_routed is True


def test_model_id_is_in_the_path():
    req = chat(P, via_hf(P), provider_model="mistralai/Mistral-7B-Instruct-v0.2")
    assert req.url == MISTRAL_CHAT
    assert req.headers["authorization"] == f"Bearer {HF_KEY}"
    assert sent(req)["model"] == "mistralai/Mistral-7B-Instruct-v0.2"


def test_json_schema_becomes_tgi_grammar():
    body = {"messages": [{"role": "user", "content": "hi"}], "response_format": JSON_SCHEMA_FORMAT}
    payload = sent(chat(P, via_hf(P), body))
    assert payload["response_format"] == {"type": "json_object", "value": SCHEMA}


def test_text_generation_is_not_offered_as_openai_completions():
    # hf-inference's text-generation is TGI's native {"inputs", "parameters"} API, not /v1/completions
    with pytest.raises(NotSupported):
        P.build_completion({"prompt": "x"}, target(P, via_hf(P), task=TEXT_GENERATION))


def test_recorded_traffic_replays():
    assert replay(P, MISTRAL_CHAT, via_hf(P)) >= 10
    assert replay(P, ZEPHYR_CHAT, via_hf(P)) == 1


def test_recorded_error_bodies_are_refused():
    for tape in tapes(f"{ROOT}/google/gemma-2b/v1/chat/completions", status=422):
        if tape.content_type.startswith("application/json"):
            with pytest.raises(ProviderResponseError):
                P.check_chat(tape.response_json())


def test_classic_tasks_post_the_hf_payload_to_the_model_route():
    model = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    t = target(P, via_hf(P), model=model, provider_model=model, task="text-classification")
    step = P.start_task(TaskCall("text-classification", "I like you"), t)
    req = step.request
    assert req.url == ("https://router.huggingface.co/hf-inference/models/"
                       "distilbert/distilbert-base-uncased-finetuned-sst-2-english")
    assert req.body == b'{"inputs":"I like you"}' and req.headers["authorization"] == f"Bearer {HF_KEY}"
    assert step.parse([{"label": "POSITIVE", "score": 0.9}]) == Done([{"label": "POSITIVE", "score": 0.9}])
    fe = P.start_task(TaskCall("feature-extraction", "x"), t).request
    assert fe.url.endswith("/models/distilbert/distilbert-base-uncased-finetuned-sst-2-english"
                           "/pipeline/feature-extraction")
    assert P.supports("sentence-similarity") and P.supports("text-to-image")


def test_binary_inputs_go_raw_alone_and_base64_beside_parameters():
    t = target(P, via_hf(P), model="m/i2i", provider_model="m/i2i", task="image-to-image")
    png = Binary(b"\x89PNG\r\n\x1a\n...", "image/png")
    alone = P.start_task(TaskCall("image-to-image", png), t).request
    assert alone.body is png and alone.headers["content-type"] == "image/png"
    with_params = P.start_task(TaskCall("image-to-image", png, {"prompt": "a cat"}), t).request
    assert with_params.headers["content-type"] == "application/json"
    assert orjson.loads(with_params.body) == {"inputs": base64.b64encode(png.data).decode(),
                                              "parameters": {"prompt": "a cat"}}
