"""The request and response shapes that differ from the plain `inputs: str` + `parameters`."""

from __future__ import annotations

import base64
import json

import pytest

from hubroute.errors import InvalidRequest, ProviderResponseError
from hubroute.types import encode_output, parse_input, parse_output
from hubroute.types.automatic_speech_recognition import AutomaticSpeechRecognitionOutput
from hubroute.types.object_detection import ObjectDetectionBoundingBox, ObjectDetectionOutputElement
from hubroute.types.summarization import SummarizationOutput
from hubroute.types.text_to_image import TextToImageOutput
from tests.types.examples import IMAGE_URL, PNG_B64, REPOS, WINE


def test_sentence_similarity() -> None:
    obj = parse_input(
        "sentence-similarity",
        {"inputs": {"source_sentence": "That is a happy person", "sentences": ["That is a happy dog", "Sunny"]}},
    )
    assert obj.inputs.source_sentence == "That is a happy person"
    assert obj.inputs.sentences == ["That is a happy dog", "Sunny"]
    with pytest.raises(InvalidRequest) as err:
        parse_input("sentence-similarity", {"inputs": {"source_sentence": "x", "sentences": []}})
    assert err.value.param == "inputs.sentences"
    # the spec's camelCase name is not the wire name
    with pytest.raises(InvalidRequest) as err:
        parse_input("sentence-similarity", {"inputs": {"sourceSentence": "x", "sentences": ["y"]}})
    assert err.value.param == "inputs.sourceSentence"


def test_table_question_answering_query_and_spec_question() -> None:
    obj = parse_input("table-question-answering", {"inputs": {"query": "How many stars?", "table": REPOS}})
    assert obj.inputs.query == "How many stars?"
    assert obj.inputs.table["Stars"] == ["36542", "4512", "3934"]
    # the spec calls it `question`; accepted and sent on as `query`
    spec_shaped = parse_input("table-question-answering", {"inputs": {"question": "How many?", "table": REPOS}})
    assert spec_shaped.inputs.query == "How many?"
    with pytest.raises(InvalidRequest) as err:
        parse_input("table-question-answering", {"inputs": {"query": "q", "table": {"Stars": [36542]}}})
    assert err.value.param == "inputs.table[...][0]"
    # HF's API answers a single object; it becomes the spec's one-element list
    answer = {"answer": "AVERAGE > 36542", "coordinates": [[0, 1]], "cells": ["36542"], "aggregator": "AVERAGE"}
    out = parse_output("table-question-answering", answer, provider="hf-inference")
    assert out[0].coordinates == [[0, 1]] and out[0].aggregator == "AVERAGE"


def test_zero_shot_candidate_labels() -> None:
    obj = parse_input(
        "zero-shot-classification", {"inputs": "I want a refund", "parameters": {"candidate_labels": ["refund", "faq"]}}
    )
    assert obj.parameters.candidate_labels == ["refund", "faq"]
    for raw, param in [
        ({"inputs": "x"}, "parameters"),
        ({"inputs": "x", "parameters": {}}, "parameters.candidate_labels"),
        ({"inputs": "x", "parameters": {"candidate_labels": []}}, "parameters.candidate_labels"),
        ({"inputs": "x", "parameters": {"candidate_labels": "refund"}}, "parameters.candidate_labels"),
    ]:
        with pytest.raises(InvalidRequest) as err:
            parse_input("zero-shot-classification", raw)
        assert err.value.param == param, raw
    image = parse_input(
        "zero-shot-image-classification",
        {"inputs": IMAGE_URL, "parameters": {"candidate_labels": ["cat"], "hypothesis_template": "A photo of {}."}},
    )
    assert image.parameters.hypothesis_template == "A photo of {}."


def test_question_answering() -> None:
    obj = parse_input(
        "question-answering", {"inputs": {"question": "Where?", "context": "In Paris."}, "parameters": {"top_k": 2}}
    )
    assert (obj.inputs.question, obj.inputs.context, obj.parameters.top_k) == ("Where?", "In Paris.", 2)
    with pytest.raises(InvalidRequest) as err:
        parse_input("question-answering", {"inputs": {"question": "Where?"}})
    assert err.value.param == "inputs.context"
    with pytest.raises(InvalidRequest) as err:
        parse_input("question-answering", {"inputs": "Where is Paris?"})
    assert err.value.param == "inputs"


def test_document_question_answering() -> None:
    raw = {
        "inputs": {"image": PNG_B64, "question": "What is the total?"},
        "parameters": {"word_boxes": ["total", [1, 2, 3, 4]]},
    }
    obj = parse_input("document-question-answering", raw)
    assert obj.inputs.image == PNG_B64 and obj.inputs.question == "What is the total?"
    assert obj.parameters.word_boxes == ["total", [1.0, 2.0, 3.0, 4.0]]
    raw_bytes = parse_input("document-question-answering", {"inputs": {"image": b"\x89PNG", "question": "q"}})
    assert raw_bytes.inputs.image == b"\x89PNG"
    with pytest.raises(InvalidRequest) as err:
        parse_input("document-question-answering", {"inputs": {"image": "an invoice", "question": "q"}})
    assert err.value.param == "inputs.image"
    # generative document models (Donut) answer with the text only
    out = parse_output("document-question-answering", [{"answer": "us-001"}], provider="hf-inference")
    assert out[0].answer == "us-001" and out[0].score is None


def test_tabular_data_shapes() -> None:
    obj = parse_input("tabular-classification", {"inputs": {"data": WINE}})
    assert obj.inputs.data["alcohol"] == ["9.4", "9.8", "12.6"]
    numbers = parse_input("tabular-regression", {"inputs": {"data": {"Height": [11.52, 12], "Width": [4, None]}}})
    assert numbers.inputs.data["Width"] == [4, None]
    # huggingface_hub sends {"table": ..., "parameters": {}} at the top level
    hub = parse_input("tabular-regression", {"parameters": {}, "table": WINE})
    assert hub.inputs.data == WINE
    with pytest.raises(InvalidRequest) as err:
        parse_input("tabular-classification", {"inputs": {"data": {"a": ["1", "2"], "b": ["1"]}}})
    assert err.value.param == "inputs.data"
    with pytest.raises(InvalidRequest) as err:
        parse_input("tabular-classification", {"inputs": {"data": {"a": "1"}}})
    assert err.value.param == "inputs.data[...]"
    assert parse_output("tabular-classification", ["5", 5, 7.5], provider="p") == ["5", 5, 7.5]


@pytest.mark.parametrize(
    "embedding",
    [
        [0.1, -0.2, 0.3],  # one text, pooled
        [[0.1, 0.2], [0.3, 0.4]],  # several texts, pooled
        [[[2.63, 2.64], [1.30, 8.57]]],  # one text, one vector per token
        [[[[2.67, 2.50]]], [[[0.95, 8.31]]]],  # several texts, per token
    ],
)
def test_feature_extraction_nested_floats(embedding: list[object]) -> None:
    out = parse_output("feature-extraction", embedding, provider="hf-inference")
    assert json.loads(encode_output("feature-extraction", out)) == embedding


def test_feature_extraction_rejects_non_numbers_and_takes_root_options() -> None:
    with pytest.raises(ProviderResponseError):
        parse_output("feature-extraction", [[0.1, "x"]], provider="p")
    with pytest.raises(ProviderResponseError):
        parse_output("feature-extraction", {"embedding": [0.1]}, provider="p")
    obj = parse_input("feature-extraction", {"inputs": "hi", "normalize": False, "truncation_direction": "left"})
    assert (obj.inputs, obj.normalize, obj.truncation_direction) == ("hi", False, "left")
    # options sit next to `inputs`; there is no `parameters` object in this task
    with pytest.raises(InvalidRequest) as err:
        parse_input("feature-extraction", {"inputs": "hi", "parameters": {"normalize": True}})
    assert err.value.param == "parameters"


def test_asr_output_with_chunks() -> None:
    raw = {
        "text": " I have a dream",
        "chunks": [{"text": " I have", "timestamp": [0.0, 1.2]}, {"text": " a dream", "timestamp": [1.2, None]}],
    }
    out = parse_output("automatic-speech-recognition", raw, provider="hf-inference")
    assert isinstance(out, AutomaticSpeechRecognitionOutput)
    assert [c.timestamp for c in out.chunks or []] == [[0.0, 1.2], [1.2, None]]
    assert json.loads(encode_output("automatic-speech-recognition", out)) == raw
    # without timestamps there are no chunks, and none are sent
    plain = parse_output("automatic-speech-recognition", {"text": "hello"}, provider="p")
    assert plain.chunks is None and encode_output("automatic-speech-recognition", plain) == b'{"text":"hello"}'


def test_object_detection_boxes() -> None:
    raw = [{"score": 0.99, "label": "cat", "box": {"xmin": 506, "ymin": 233, "xmax": 629, "ymax": 405}}]
    out = parse_output("object-detection", raw, provider="hf-inference")
    assert out == [ObjectDetectionOutputElement(label="cat", score=0.99, box=ObjectDetectionBoundingBox(
        xmin=506, ymin=233, xmax=629, ymax=405))]  # fmt: skip
    for box in ({"xmin": 1, "ymin": 2, "xmax": 3}, {"xmin": 1.5, "ymin": 2, "xmax": 3, "ymax": 4}):
        with pytest.raises(ProviderResponseError):
            parse_output("object-detection", [{"score": 0.9, "label": "cat", "box": box}], provider="p")


def test_audio_to_audio_content_type_keeps_its_hyphen() -> None:
    out = parse_output(
        "audio-to-audio", [{"label": "l", "blob": "ZkxhQw==", "content-type": "audio/flac"}], provider="p"
    )
    assert out[0].content_type == "audio/flac"
    assert b'"content-type":"audio/flac"' in encode_output("audio-to-audio", out)


def test_list_wrapped_outputs() -> None:
    # HF's API (and @huggingface/inference) use a one-element list; both forms parse
    for raw in ([{"summary_text": "Short."}], {"summary_text": "Short."}):
        assert parse_output("summarization", raw, provider="p") == SummarizationOutput(summary_text="Short.")
    assert encode_output("summarization", SummarizationOutput(summary_text="Short.")) == b'[{"summary_text":"Short."}]'
    with pytest.raises(ProviderResponseError):
        parse_output("translation", [{"translation_text": "a"}, {"translation_text": "b"}], provider="p")


def test_binary_output_is_bytes_and_base64_in_json() -> None:
    png = b"\x89PNG\r\n\x1a\n"
    out = TextToImageOutput(image=png)
    body = json.loads(encode_output("text-to-image", out))
    assert base64.b64decode(body["image"]) == png
    assert parse_output("text-to-image", body, provider="p").image == png


def test_text_generation_stream_and_grammar() -> None:
    obj = parse_input(
        "text-generation",
        {
            "inputs": "Give me JSON",
            "stream": True,
            "parameters": {"grammar": {"type": "json", "value": {"type": "object"}}},
        },
    )
    assert obj.stream is True and obj.parameters.grammar.value == {"type": "object"}
    with pytest.raises(InvalidRequest) as err:
        parse_input("text-generation", {"inputs": "x", "parameters": {"grammar": {"type": "xml", "value": ""}}})
    assert err.value.param == "parameters.grammar.type"
    assert "'json', 'json_schema', 'regex'" in err.value.message


def test_visual_question_answering_client_variant() -> None:
    # huggingface_hub sends the image twice and the question at the top level
    raw = {"inputs": PNG_B64, "parameters": {"top_k": 2}, "question": "How many cats?", "image": PNG_B64}
    obj = parse_input("visual-question-answering", raw)
    assert (obj.inputs.image, obj.inputs.question, obj.parameters.top_k) == (PNG_B64, "How many cats?", 2)


def test_text_to_speech_flat_generation_parameters() -> None:
    # huggingface_hub sends them flat in `parameters`; the spec nests them
    obj = parse_input("text-to-speech", {"inputs": "hello", "parameters": {"temperature": 0.5, "do_sample": True}})
    assert obj.parameters.generation_parameters.temperature == 0.5
    assert obj.parameters.generation_parameters.do_sample is True
    with pytest.raises(InvalidRequest) as err:
        parse_input("text-to-speech", {"inputs": "hello", "parameters": {"temperature": 0.5, "voice": "af_nicole"}})
    assert err.value.param == "parameters.voice"


def test_envelope_fields_are_dropped() -> None:
    obj = parse_input(
        "fill-mask", {"inputs": "[MASK] world!", "options": {"wait_for_model": True}, "model": "bert-base-uncased"}
    )
    assert obj.inputs == "[MASK] world!"


def test_chat_completion_passes_through() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "some_provider_field": 1}
    assert parse_input("chat-completion", body) is body
    assert json.loads(encode_output("chat-completion", {"choices": []})) == {"choices": []}


def test_classification_batch_of_one_is_unwrapped() -> None:
    # HF's Inference API answers one text with a batch of one (recorded traffic)
    raw = [[{"label": "POSITIVE", "score": 0.99}, {"label": "NEGATIVE", "score": 0.01}]]
    out = parse_output("text-classification", raw, provider="hf-inference")
    assert [o.label for o in out] == ["POSITIVE", "NEGATIVE"]
