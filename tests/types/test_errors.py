"""Bad requests are InvalidRequest (400) naming the offending field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hubroute.errors import InvalidRequest, ProviderResponseError
from hubroute.types import TASKS, parse_input, parse_output
from hubroute.types._validation import looks_binary
from tests.types.examples import EXAMPLES, IMAGE_URL


def _error(task: str, raw: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as err:
        parse_input(task, raw)
    assert err.value.status == 400
    assert err.value.to_openai()["error"].get("param") == err.value.param
    return err.value


@pytest.mark.parametrize("task", sorted(t for t in TASKS if t != "conversational"))
def test_missing_inputs(task: str) -> None:
    request = {k: v for k, v in EXAMPLES[task][0].items() if k != "inputs"}
    err = _error(task, request)
    assert err.param == "inputs"
    assert err.message == f"'inputs' is required for {task}"


WITH_PARAMETERS = sorted(t for t, s in TASKS.items() if "parameters" in getattr(s.input_type, "__struct_fields__", ()))


@pytest.mark.parametrize("task", WITH_PARAMETERS)
def test_unknown_parameter_is_refused_and_named(task: str) -> None:
    request = dict(EXAMPLES[task][0])
    request["parameters"] = {**request.get("parameters", {}), "not_a_parameter": 1}
    err = _error(task, request)
    assert err.param == "parameters.not_a_parameter"
    assert "Unknown parameter 'parameters.not_a_parameter'" in err.message
    assert "silently ignore" in err.message


def test_every_task_but_chat_and_feature_extraction_has_parameters() -> None:
    assert set(TASKS) - set(WITH_PARAMETERS) == {"conversational", "feature-extraction"}


def test_unknown_parameter_lists_the_known_ones() -> None:
    err = _error("image-classification", {"inputs": IMAGE_URL, "parameters": {"topk": 3}})
    assert "(known: function_to_apply, top_k)" in err.message


def test_unknown_top_level_field() -> None:
    err = _error("text-generation", {"inputs": "Hello", "parameter": {"max_new_tokens": 5}})
    assert err.param == "parameter"
    assert "(known: inputs, parameters, stream)" in err.message


@pytest.mark.parametrize(
    ("task", "raw", "param", "message"),
    [
        ("text-generation", {"inputs": "x", "parameters": {"top_k": "5"}}, "parameters.top_k", "must be an integer"),
        ("text-generation", {"inputs": "x", "parameters": {"top_k": 2.5}}, "parameters.top_k", "not a decimal number"),
        ("text-generation", {"inputs": "x", "parameters": {"stop": "\n"}}, "parameters.stop", "must be an array"),
        ("text-generation", {"inputs": "x", "stream": "yes"}, "stream", "must be a boolean, not a string"),
        ("text-generation", {"inputs": "x", "parameters": "fast"}, "parameters", "must be an object"),
        ("text-classification", {"inputs": ["a", "b"]}, "inputs", "'inputs' must be a string, not an array"),
        ("feature-extraction", {"inputs": 42}, "inputs", "must be a string or an array, not an integer"),
        ("fill-mask", {"inputs": "[MASK]", "parameters": {"targets": ["a", 1]}}, "parameters.targets[1]", "string"),
        ("text-to-image", {"inputs": "cat", "parameters": {"width": "512"}}, "parameters.width", "an integer"),
        (
            "image-to-image",
            {"inputs": IMAGE_URL, "parameters": {"target_size": {"width": 512}}},
            "parameters.target_size.height",
            "is required",
        ),
        (
            "text-classification",
            {"inputs": "x", "parameters": {"function_to_apply": "max"}},
            "parameters.function_to_apply",
            "one of 'none', 'sigmoid', 'softmax'",
        ),
        (
            "automatic-speech-recognition",
            {"inputs": IMAGE_URL, "parameters": {"generation_parameters": {"early_stopping": "soon"}}},
            "parameters.generation_parameters.early_stopping",
            "one of 'never', or a boolean",
        ),
        ("sentence-similarity", {"inputs": {"source_sentence": "a"}}, "inputs.sentences", "is required"),
        ("visual-question-answering", {"inputs": {"image": IMAGE_URL}}, "inputs.question", "is required"),
    ],
)
def test_wrong_types_name_the_field(task: str, raw: dict[str, Any], param: str, message: str) -> None:
    err = _error(task, raw)
    assert err.param == param
    assert message in err.message
    assert err.message.startswith(f"'{param}'")


@pytest.mark.parametrize(
    ("task", "inputs", "param"),
    [
        ("image-classification", "a photo of a cat", "inputs"),
        ("image-to-image", "Turn the cat into a tiger", "inputs"),
        ("object-detection", {"url": IMAGE_URL}, "inputs"),
        ("automatic-speech-recognition", "hello world", "inputs"),
        ("audio-classification", None, "inputs"),
        ("image-segmentation", "", "inputs"),
        ("zero-shot-image-classification", 12, "inputs"),
    ],
)
def test_text_to_a_binary_task_names_inputs(task: str, inputs: Any, param: str) -> None:
    request = dict(EXAMPLES[task][0])
    request["inputs"] = inputs
    err = _error(task, request)
    assert err.param == param
    assert "a URL, a data URI, base64-encoded data or raw bytes" in err.message


def test_text_as_the_image_of_document_question_answering() -> None:
    err = _error("document-question-answering", {"inputs": {"image": "my invoice.pdf", "question": "Total?"}})
    assert err.param == "inputs.image"
    assert err.message.startswith("'inputs.image' must be an image")


@pytest.mark.parametrize(
    "value",
    [
        IMAGE_URL,
        "data:image/png;base64,iVBORw0KGgo=",
        base64.b64encode(b"\x89PNG\r\n\x1a\n" * 200).decode(),
        base64.encodebytes(b"\x89PNG\r\n\x1a\n" * 200).decode(),  # line-wrapped
        base64.urlsafe_b64encode(b"\xfb\xff" * 30).decode(),
        base64.b64encode(b"\x89PNG\r\n").decode().rstrip("="),  # unpadded: hubroute.inputs decodes it
        "  " + base64.b64encode(b"\x89PNG\r\n\x1a\n").decode() + "\n",
        "s3://bucket/cat.png",  # any scheme: which ones may be fetched is hubroute.inputs' decision
    ],
)
def test_binary_string_forms(value: str) -> None:
    assert looks_binary(value)
    assert parse_input("image-classification", {"inputs": value}).inputs == value


@pytest.mark.parametrize("value", ["a photo of a cat", "hello\nworld!", "x", "abcde", "   ", "x" * 5000 + " y", "ab=c"])
def test_text_is_not_binary(value: str) -> None:
    assert not looks_binary(value)


def test_raw_bytes_are_accepted_and_empty_bytes_are_not() -> None:
    assert parse_input("automatic-speech-recognition", {"inputs": b"fLaC\x00"}).inputs == b"fLaC\x00"
    assert _error("automatic-speech-recognition", {"inputs": b""}).param == "inputs"


def test_body_must_be_an_object() -> None:
    err = _error("text-generation", ["The answer is"])  # type: ignore[arg-type]
    assert err.param is None
    assert "JSON object" in err.message


def test_required_parameters_object() -> None:
    err = _error("zero-shot-classification", {"inputs": "I want my money back"})
    assert err.param == "parameters"


def test_tabular_columns_of_different_lengths() -> None:
    err = _error("tabular-regression", {"inputs": {"data": {"a": ["1", "2"], "b": ["3"]}}})
    assert err.param == "inputs.data"


def test_bad_provider_answers_are_provider_errors() -> None:
    with pytest.raises(ProviderResponseError) as err:
        parse_output("text-classification", [{"label": "POSITIVE"}], provider="acme")
    assert err.value.provider == "acme"
    assert "score" in err.value.message
    with pytest.raises(ProviderResponseError):
        parse_output("chat-completion", ["not", "an", "object"], provider="acme")


def test_echoed_values_are_scrubbed_and_bounded() -> None:
    err = _error("text-classification", {"inputs": "x", "parameters": {"function_to_apply": "hf_" + "a" * 3000}})
    assert "hf_aaaa" not in err.message and len(err.message) < 2100
    err = _error("text-classification", {"inputs": "x", "parameters": {"k" * 1000: 1}})
    assert err.param is not None and len(err.param) <= 201
