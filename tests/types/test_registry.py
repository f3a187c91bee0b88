"""The registry covers every task of issue 3, and every task round-trips a realistic payload."""

from __future__ import annotations

import json
import typing
from typing import Any

import msgspec
import pytest

from hubroute import task_names
from hubroute.types import TASKS, encode_output, get_spec, parse_input, parse_output
from tests.types.examples import EXAMPLES

ISSUE_TASKS = {
    "audio-classification", "audio-to-audio", "automatic-speech-recognition", "conversational",
    "document-question-answering", "feature-extraction", "fill-mask", "image-classification",
    "image-segmentation", "image-to-image", "image-to-text", "image-to-video", "object-detection",
    "question-answering", "sentence-similarity", "summarization", "table-question-answering",
    "tabular-classification", "tabular-regression", "text-classification", "text-generation",
    "text-to-image", "text-to-speech", "text-to-video", "token-classification", "translation",
    "visual-question-answering", "zero-shot-classification", "zero-shot-image-classification",
}  # fmt: skip


def _canonical(data: Any) -> Any:
    return json.loads(json.dumps(data))


def test_registry_has_exactly_the_issue_tasks() -> None:
    assert set(TASKS) == ISSUE_TASKS == task_names.TASKS
    assert set(EXAMPLES) == ISSUE_TASKS
    assert all(spec.task == name for name, spec in TASKS.items())


@pytest.mark.parametrize("task", sorted(ISSUE_TASKS))
def test_task_has_types(task: str) -> None:
    spec = TASKS[task]
    if task == "conversational":
        assert spec.input_type is dict and spec.output_type is dict
        return
    assert issubclass(spec.input_type, msgspec.Struct)
    assert "inputs" in spec.input_type.__struct_fields__
    out = spec.output_type
    assert (isinstance(out, type) and issubclass(out, msgspec.Struct)) or typing.get_origin(out) is list
    if spec.binary_output:
        # the bytes field is named after the kind, and there are content types to send it with
        assert typing.get_type_hints(out)[spec.binary_output] is bytes
        assert spec.output_content_types and all(
            ct.startswith(spec.binary_output + "/") for ct in spec.output_content_types
        )
    else:
        assert spec.output_content_types == ()
    assert bool(spec.binary_input) == bool(spec.binary_fields)


@pytest.mark.parametrize("task", sorted(ISSUE_TASKS))
def test_input_round_trips(task: str) -> None:
    request, _ = EXAMPLES[task]
    obj = parse_input(task, request)
    if task != "conversational":
        assert isinstance(obj, TASKS[task].input_type)
    assert json.loads(msgspec.json.encode(obj)) == _canonical(request)


@pytest.mark.parametrize("task", sorted(ISSUE_TASKS))
def test_output_round_trips(task: str) -> None:
    _, response = EXAMPLES[task]
    obj = parse_output(task, response, provider="test")
    assert json.loads(encode_output(task, obj)) == _canonical(response)
    # plain decoded JSON is validated and encoded the same way
    assert json.loads(encode_output(task, _canonical(response))) == _canonical(response)


def test_openai_routes() -> None:
    routes = {spec.openai_route: name for name, spec in TASKS.items() if spec.openai_route}
    assert routes == {
        "/v1/embeddings": "feature-extraction",
        "/v1/images/generations": "text-to-image",
        "/v1/audio/transcriptions": "automatic-speech-recognition",
        "/v1/audio/speech": "text-to-speech",
        "/v1/chat/completions": "conversational",
    }


def test_binary_kinds() -> None:
    audio_in = {n for n, s in TASKS.items() if s.binary_input == "audio"}
    image_in = {n for n, s in TASKS.items() if s.binary_input == "image"}
    assert audio_in == {"audio-classification", "audio-to-audio", "automatic-speech-recognition"}
    assert image_in == {
        "document-question-answering", "image-classification", "image-segmentation", "image-to-image",
        "image-to-text", "image-to-video", "object-detection", "visual-question-answering",
        "zero-shot-image-classification",
    }  # fmt: skip
    assert TASKS["document-question-answering"].binary_fields == ("inputs.image",)
    outputs = {n: s.binary_output for n, s in TASKS.items() if s.binary_output}
    assert outputs == {
        "text-to-image": "image",
        "image-to-image": "image",
        "text-to-speech": "audio",
        "text-to-video": "video",
        "image-to-video": "video",
    }


def test_aliases_and_unknown_task() -> None:
    from hubroute.errors import InvalidRequest

    # chat is `conversational` on the Hub and `chat-completion` in huggingface.js's specs: either names it
    assert get_spec("chat-completion") is get_spec("conversational") is TASKS["conversational"]
    with pytest.raises(InvalidRequest) as err:
        get_spec("text-to-3d")
    assert err.value.param == "task"
