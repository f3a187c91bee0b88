import base64
import copy
from collections.abc import Callable
from typing import Any

import openai
import orjson
import pytest
from huggingface_hub import InferenceClient

from hubroute.errors import InvalidRequest, ProviderResponseError
from hubroute.inputs import Binary, sniff
from hubroute.inputs.fetch import Fetcher
from hubroute.providers import CHAT, REGISTRY, TEXT_GENERATION
from hubroute.providers.steps import Done, TaskCall
from hubroute.tasks import binary_call, load_call
from tests.types.examples import REPOS
from tests.types.test_hf_client import CALLS, PNG

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



# --- every task: the request huggingface_hub's own client sends hf-inference -------------------------
#: calls whose body differs from tests/types' CALLS (which set every parameter): the model passed per
#: call (table-question-answering then sends it in `parameters`), and no parameters at all
MORE_CALLS: dict[str, tuple[str, Callable[[InferenceClient], Any]]] = {
    "table-question-answering-model-per-call": ("table-question-answering", lambda c: c.table_question_answering(
        REPOS, "How many stars?", model="org/model", padding="longest")),
    "visual-question-answering-bare": ("visual-question-answering",
                                       lambda c: c.visual_question_answering(PNG, "How many cats?")),
    "document-question-answering-bare": ("document-question-answering",
                                         lambda c: c.document_question_answering(PNG, "What is the total?")),
    "text-classification-bare": ("text-classification", lambda c: c.text_classification("I love you")),
    "text-to-speech-bare": ("text-to-speech", lambda c: c.text_to_speech("Hello")),
    "image-classification-bare": ("image-classification", lambda c: c.image_classification(PNG)),
}
HUB_CALLS = {task: (task, call) for task, call in CALLS.items()} | MORE_CALLS


def hub_request(monkeypatch: pytest.MonkeyPatch, call: Callable[[InferenceClient], Any]) -> Any:
    """The request huggingface_hub's InferenceClient builds for `call` with `provider="hf-inference"` and
    the model `org/model` (its transport replaced by a recorder)."""
    from huggingface_hub.inference._providers import hf_inference

    sent: list[Any] = []

    def record(self: InferenceClient, request_parameters: Any, *, stream: bool = False) -> Any:
        sent.append(request_parameters)
        raise _Sent

    with monkeypatch.context() as m:
        m.setattr(InferenceClient, "_inner_post", record)
        m.setattr(hf_inference, "_check_supported_task", lambda model, task: None)  # a Hub look-up
        with pytest.raises(_Sent):
            call(InferenceClient(provider="hf-inference", model="org/model", token=HF_KEY))
    return sent[0]


async def as_received(task: str, request: Any) -> TaskCall:
    """The TaskCall hubroute's task route makes of that request (JSON validated, or a raw binary body)."""
    if request.json is not None:
        return await load_call(task, orjson.loads(orjson.dumps(request.json)), Fetcher())
    data = bytes(request.data)
    if data[:1] == b"{":
        return await load_call(task, orjson.loads(data), Fetcher())
    return binary_call(task, Binary(data, request.headers.get("content-type") or sniff(data) or ""), 1 << 20)


def wire(body: Any) -> Any:
    """A body as decoded JSON, or as the bytes it is. An empty `parameters` is left out: hubroute does
    not send the `{}` huggingface_hub sends (hf-inference reads both alike)."""
    data = body.data if isinstance(body, Binary) else bytes(body)
    if data[:1] != b"{":
        return data
    payload = orjson.loads(data)
    if payload.get("parameters") == {}:
        del payload["parameters"]
    return payload


@pytest.mark.parametrize("case", sorted(HUB_CALLS))
async def test_task_request_is_what_huggingface_hub_sends(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    task, call = HUB_CALLS[case]
    theirs = hub_request(monkeypatch, call)
    received = await as_received(task, theirs)  # accepted as huggingface_hub sends it
    ours = P.start_task(received, target(P, via_hf(P), model="org/model", provider_model="org/model",
                                         task=task)).request
    assert (ours.method, ours.url) == ("POST", theirs.url)
    assert ours.headers["authorization"] == theirs.headers["authorization"]
    assert ours.headers["content-type"] == theirs.headers.get("content-type", ours.headers["content-type"])
    assert wire(ours.body) == wire(theirs.data if theirs.json is None else orjson.dumps(theirs.json))

# --- text-generation: OpenAI's completions over TGI's native generate API ----------------------------
GPT2 = f"{ROOT}/gpt2"
LLAMA = f"{ROOT}/meta-llama/Llama-3.2-3B"
FLAN = f"{ROOT}/google/flan-t5-xxl"


class _Sent(Exception):
    pass


def hub_sends(monkeypatch: pytest.MonkeyPatch, call: Callable[[InferenceClient], Any]) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body huggingface_hub's InferenceClient sends for `call` on hf-inference (its
    transport replaced by a recorder, as in tests/types/test_hf_client.py)."""
    sent: list[Any] = []

    def record(self: InferenceClient, request_parameters: Any, *, stream: bool = False) -> Any:
        sent.append(request_parameters)
        raise _Sent

    monkeypatch.setattr(InferenceClient, "_inner_post", record)
    client = InferenceClient(model=f"{ROOT}/gpt2", token=HF_KEY)
    with pytest.raises(_Sent):
        call(client)
    return sent[0].url, dict(sent[0].json)


def completion(body: dict[str, Any], model: str = "gpt2") -> Any:
    return P.build_completion(body, target(P, via_hf(P), model=model, provider_model=model, task=TEXT_GENERATION))


#: OpenAI completions body -> the same call through huggingface_hub's text_generation
SAME_CALLS: list[tuple[dict[str, Any], Callable[[InferenceClient], Any]]] = [
    ({"prompt": "The answer is"},
     lambda c: c.text_generation("The answer is", details=True, do_sample=True, return_full_text=False)),
    ({"prompt": "The answer is", "max_tokens": 20, "temperature": 0.5, "top_p": 0.9, "top_k": 10, "seed": 1,
      "stop": ["\n", "."], "frequency_penalty": 0.1, "repetition_penalty": 1.1},
     lambda c: c.text_generation("The answer is", details=True, do_sample=True, return_full_text=False,
                                 max_new_tokens=20, temperature=0.5, top_p=0.9, top_k=10, seed=1, stop=["\n", "."],
                                 frequency_penalty=0.1, repetition_penalty=1.1)),
    ({"prompt": ["The answer is"], "max_tokens": 5, "temperature": 0, "stop": "\n", "stream": True,
      "stream_options": {"include_usage": True}, "n": 1, "user": "u1", "presence_penalty": 0.3},
     lambda c: c.text_generation("The answer is", details=True, do_sample=False, return_full_text=False,
                                 max_new_tokens=5, stop=["\n"], stream=True)),
    ({"prompt": "Hi", "echo": True, "top_p": 1.0, "temperature": 1.2},
     lambda c: c.text_generation("Hi", details=True, do_sample=True, return_full_text=True, temperature=1.2)),
]


@pytest.mark.parametrize("case", range(len(SAME_CALLS)))
def test_completion_body_is_what_huggingface_hub_sends(case: int, monkeypatch: pytest.MonkeyPatch) -> None:
    body, call = SAME_CALLS[case]
    url, expected = hub_sends(monkeypatch, call)
    req = completion(body)
    assert req.method == "POST" and req.url == url == GPT2
    assert req.headers["authorization"] == f"Bearer {HF_KEY}"
    assert sent(req) == expected
    assert req.stream is bool(body.get("stream"))


def test_completion_prompts_tgi_cannot_take_are_refused():
    for prompt in (["a", "b"], [1, 2, 3]):
        with pytest.raises(InvalidRequest):
            completion({"prompt": prompt})
    with pytest.raises(InvalidRequest):
        completion({"prompt": "x", "echo": True, "stream": True})


def test_recorded_tgi_answers_become_openai_completions():
    for url in (GPT2, FLAN):
        for tape in tapes(url):
            if tape.is_stream:
                continue
            out = P.check_completion(tape.response_json())
            parsed = openai.types.Completion.model_validate(out)
            assert parsed.object == "text_completion"
            assert parsed.choices[0].text == tape.response_json()[0]["generated_text"] != ""
            assert parsed.choices[0].finish_reason == "stop" and parsed.usage is None


def test_tgi_details_give_finish_reason_and_usage():
    answer = {"generated_text": " 42.", "details": {"finish_reason": "length", "generated_tokens": 3, "seed": None,
                                                    "prefill": [], "tokens": []}}
    for data in (answer, [answer]):
        out = openai.types.Completion.model_validate(P.check_completion(copy.deepcopy(data)))
        assert out.choices[0].text == " 42." and out.choices[0].finish_reason == "length"
        assert out.usage is not None and (out.usage.completion_tokens, out.usage.total_tokens) == (3, 3)
    eos = {"generated_text": "x", "details": {"finish_reason": "eos_token", "generated_tokens": 1}}
    assert P.check_completion([eos])["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(ProviderResponseError):
        P.check_completion({"error": "overloaded"})
    with pytest.raises(ProviderResponseError):
        P.check_completion([])


def stream_text(events: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    text, finishes = "", []
    for event in events:
        chunk = P.adapt_chunk(copy.deepcopy(event))  # the openai SDK reads chunks unvalidated
        assert chunk["object"] == "text_completion" and len(chunk["choices"]) == 1
        text += chunk["choices"][0]["text"]
        finishes.append(chunk["choices"][0]["finish_reason"])
    return text, finishes


def test_recorded_tgi_streams_become_openai_completion_chunks():
    assert P.rewrites(TEXT_GENERATION) and not P.rewrites(CHAT)  # chat streams pass through raw
    llama = next(t for t in tapes(LLAMA) if t.request_json.get("parameters", {}).get("seed") == 0)
    req = completion({"prompt": llama.request_json["inputs"], "max_tokens": 50, "seed": 0, "stream": True},
                     model="meta-llama/Llama-3.2-3B")
    assert req.url == LLAMA and req.stream
    assert {k: v for k, v in sent(req)["parameters"].items() if k in ("max_new_tokens", "seed")} == \
        llama.request_json["parameters"]
    events = llama.events()
    text, finishes = stream_text(events)
    assert llama.request_json["inputs"] + text == events[-1]["generated_text"]
    assert finishes == [None] * (len(events) - 1) + ["stop"]
    flan = next(t for t in tapes(FLAN) if t.is_stream)  # ends with a special token: no text, the finish
    text, finishes = stream_text(flan.events())
    assert text == "one two three four" and finishes[-1] == "stop" and finishes[:-1] == [None] * 4


def test_stream_details_give_the_finish_reason():
    last = {"index": 3, "token": {"id": 2, "text": "</s>", "logprob": 0.0, "special": True},
            "generated_text": "a b", "details": {"finish_reason": "length", "generated_tokens": 3, "seed": None,
                                                 "input_length": 4}}
    chunk = P.adapt_chunk(last)
    assert chunk["choices"] == [{"index": 0, "text": "", "finish_reason": "length", "logprobs": None}]


def test_recorded_tgi_stream_errors_are_stream_errors():
    from hubroute.routing.router import stream_error
    from hubroute.transport import SSEEvent

    bad = next(t for t in tapes(LLAMA) if "error" in t.response_body)
    error = stream_error(P.name, SSEEvent(orjson.dumps(bad.events()[0])))
    assert error is not None and "max_new_tokens" in str(error.to_openai())


def test_chat_chunks_still_pass_unchanged():
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    assert P.adapt_chunk(copy.deepcopy(chunk)) == chunk


def test_text_generation_task_is_tgi_native():
    # HF's text-generation task is TGI's API: sent as it came, every parameter kept, answered as TGI answers
    t = target(P, via_hf(P), model="gpt2", provider_model="gpt2", task=TEXT_GENERATION)
    parameters = {"max_new_tokens": 8, "do_sample": False, "details": True, "grammar": {"type": "json", "value": {}}}
    step = P.start_task(TaskCall(TEXT_GENERATION, "The answer to the universe is", parameters, {"stream": True}), t)
    assert step.request.url == GPT2 and not step.request.stream
    assert sent(step.request) == {"inputs": "The answer to the universe is", "parameters": parameters}
    for tape in tapes(GPT2):
        assert step.parse(tape.response_json()) == Done(tape.response_json())
    assert step.parse({"generated_text": " 42"}) == Done([{"generated_text": " 42"}])
    bare = P.start_task(TaskCall(TEXT_GENERATION, "Hi"), t).request
    assert sent(bare) == {"inputs": "Hi"}
