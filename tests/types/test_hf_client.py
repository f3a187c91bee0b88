"""What the real huggingface_hub InferenceClient sends, every parameter set, is accepted.

The client is pointed at a hubroute-style URL (`/models/{org}/{model}`) and its transport replaced
by a recorder, so no request leaves the process. Binary inputs sent without parameters go out as a
raw body; the server turns those into `{"inputs": <bytes>}`, as done here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from huggingface_hub import InferenceClient

from hubroute.types import TASKS, parse_input
from tests.types.examples import REPOS, WINE

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(32))
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(range(32))
GEN = {"do_sample": True, "max_new_tokens": 20, "temperature": 0.7, "top_k": 5, "top_p": 0.9, "num_beams": 2}

CALLS: dict[str, Callable[[InferenceClient], Any]] = {
    "audio-classification": lambda c: c.audio_classification(FLAC, top_k=2, function_to_apply="softmax"),
    "audio-to-audio": lambda c: c.audio_to_audio(FLAC),
    "automatic-speech-recognition": lambda c: c.automatic_speech_recognition(FLAC),
    "document-question-answering": lambda c: c.document_question_answering(
        PNG, "What is the total?", doc_stride=128, handle_impossible_answer=True, lang="en", max_answer_len=15,
        max_question_len=64, max_seq_len=384, top_k=1, word_boxes=["total", [1, 2, 3, 4]],
    ),
    "feature-extraction": lambda c: c.feature_extraction(
        "Hi", normalize=True, prompt_name="query", truncate=True, truncation_direction="left", dimensions=256,
        encoding_format="float",
    ),
    "fill-mask": lambda c: c.fill_mask("The goal of life is [MASK].", targets=["joy"], top_k=3),
    "image-classification": lambda c: c.image_classification(PNG, function_to_apply="sigmoid", top_k=3),
    "image-segmentation": lambda c: c.image_segmentation(
        PNG, mask_threshold=0.5, overlap_mask_area_threshold=0.8, subtask="semantic", threshold=0.9,
    ),
    "image-to-image": lambda c: c.image_to_image(
        PNG, prompt="a tiger", negative_prompt="blurry", num_inference_steps=20, guidance_scale=7.5,
        target_size={"width": 512, "height": 512},
    ),
    "image-to-text": lambda c: c.image_to_text(PNG),
    "object-detection": lambda c: c.object_detection(PNG, threshold=0.9),
    "question-answering": lambda c: c.question_answering(
        "Where?", "In Paris.", align_to_words=True, doc_stride=128, handle_impossible_answer=False,
        max_answer_len=15, max_question_len=64, max_seq_len=384, top_k=2,
    ),
    "sentence-similarity": lambda c: c.sentence_similarity("A happy person", ["A happy dog", "A sunny day"]),
    "summarization": lambda c: c.summarization(
        "A long text.", clean_up_tokenization_spaces=True, generate_parameters={"max_length": 40},
        truncation="longest_first",
    ),
    "table-question-answering": lambda c: c.table_question_answering(
        REPOS, "How many stars?", padding="longest", sequential=False, truncation=True,
    ),
    "tabular-classification": lambda c: c.tabular_classification(WINE),
    "text-classification": lambda c: c.text_classification("I love you", top_k=2, function_to_apply="softmax"),
    "text-generation": lambda c: c.text_generation(
        "The answer is", details=True, adapter_id="lora", best_of=2, decoder_input_details=True, do_sample=True,
        frequency_penalty=0.1, grammar={"type": "json", "value": {"type": "object"}}, max_new_tokens=20,
        repetition_penalty=1.1, return_full_text=False, seed=1, stop=["\n"], temperature=0.5, top_k=10,
        top_n_tokens=2, top_p=0.9, truncate=100, typical_p=0.9, watermark=True,
    ),
    "text-to-image": lambda c: c.text_to_image(
        "An astronaut riding a horse", negative_prompt="blurry", height=512, width=512, num_inference_steps=20,
        guidance_scale=7.5, scheduler="DPMSolverMultistepScheduler", seed=42,
    ),
    "text-to-speech": lambda c: c.text_to_speech(
        "Hello", early_stopping="never", epsilon_cutoff=3e-4, eta_cutoff=3e-4, max_length=100, min_length=1,
        min_new_tokens=1, num_beam_groups=1, penalty_alpha=0.6, typical_p=0.9, use_cache=True, **GEN,
    ),
    "token-classification": lambda c: c.token_classification(
        "My name is Sarah", aggregation_strategy="simple", ignore_labels=["O"], stride=16,
    ),
    "translation": lambda c: c.translation(
        "Hello", src_lang="en", tgt_lang="de", clean_up_tokenization_spaces=True, truncation="only_first",
        generate_parameters={"num_beams": 4},
    ),
    "visual-question-answering": lambda c: c.visual_question_answering(PNG, "How many cats?", top_k=2),
    "zero-shot-classification": lambda c: c.zero_shot_classification(
        "I want my money back", ["refund", "faq"], multi_label=True, hypothesis_template="This is about {}.",
    ),
    "zero-shot-image-classification": lambda c: c.zero_shot_image_classification(
        PNG, ["cat", "dog"], hypothesis_template="A photo of a {}.",
    ),
}  # fmt: skip


class _Sent(Exception):
    pass


def _sent_body(monkeypatch: pytest.MonkeyPatch, call: Callable[[InferenceClient], Any]) -> dict[str, Any]:
    sent: list[Any] = []

    def record(self: InferenceClient, request_parameters: Any, *, stream: bool = False) -> Any:
        sent.append(request_parameters)
        raise _Sent

    monkeypatch.setattr(InferenceClient, "_inner_post", record)
    client = InferenceClient(model="http://127.0.0.1:9/models/org/model", token="hf_test_token")
    with pytest.raises(_Sent):
        call(client)
    request = sent[0]
    if request.json is not None:
        return dict(request.json)
    data = request.data
    if isinstance(data, bytes) and data[:1] == b"{":
        return dict(json.loads(data))
    return {"inputs": bytes(data)}  # a raw binary body


#: tasks huggingface_hub only sends to providers in their own formats (it refuses them for a model URL)
PROVIDER_NATIVE_ONLY = {"image-to-video", "tabular-regression", "text-to-video"}


def test_every_task_but_chat_is_exercised() -> None:
    assert set(CALLS) == set(TASKS) - {"conversational"} - PROVIDER_NATIVE_ONLY


@pytest.mark.parametrize("task", sorted(CALLS))
def test_huggingface_hub_requests_are_accepted(task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body = _sent_body(monkeypatch, CALLS[task])
    obj = parse_input(task, body)
    assert isinstance(obj, TASKS[task].input_type)
    if "parameters" in TASKS[task].input_type.__struct_fields__ and body.get("parameters"):
        assert obj.parameters is not None  # the parameters were understood, not dropped


def test_table_question_answering_with_the_model_passed_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # the model given to the call, not the client, goes into `parameters.model`
    url = "http://127.0.0.1:9/models/org/model"
    body = _sent_body(monkeypatch, lambda c: c.table_question_answering(REPOS, "How many stars?", model=url))
    assert body["parameters"] == {"model": url}
    assert parse_input("table-question-answering", body).parameters.model == url
