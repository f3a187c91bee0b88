"""Typed inputs and outputs of every task, one module per task, following Hugging Face's task specs
(huggingface.js packages/tasks/src/tasks/<task>/spec): `<Task>Input` is `inputs` plus optional
`<Task>Parameters`; `<Task>Output` is a Struct or a list of `<Task>OutputElement`.

    TASKS                          task name (hubroute.task_names) -> TaskSpec (types, binary kinds, routes...)
    parse_input(task, raw)         validate a decoded JSON request; InvalidRequest names the field
    parse_output(task, raw, provider=...)   validate a provider's decoded JSON answer
    encode_output(task, obj)       the JSON body of a response

Stricter than HF's API on purpose: a parameter the task does not define is a 400 naming it (HF
ignores it silently, so a typo quietly does nothing). The client envelope fields `options` (the
old `wait_for_model` / `use_cache`) and `model` are accepted at the top level and dropped.
Chat (`conversational`, the spec's `chat-completion`) is passed through as OpenAI-shaped dicts (see
chat_completion.py). Any spelling of a task name that hubroute.task_names knows is accepted.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from hubroute.errors import InvalidRequest, ProviderResponseError
from hubroute.task_names import (
    AUDIO_CLASSIFICATION,
    AUDIO_TO_AUDIO,
    AUTOMATIC_SPEECH_RECOGNITION,
    CONVERSATIONAL,
    DOCUMENT_QUESTION_ANSWERING,
    FEATURE_EXTRACTION,
    FILL_MASK,
    IMAGE_CLASSIFICATION,
    IMAGE_SEGMENTATION,
    IMAGE_TO_IMAGE,
    IMAGE_TO_TEXT,
    IMAGE_TO_VIDEO,
    OBJECT_DETECTION,
    QUESTION_ANSWERING,
    SENTENCE_SIMILARITY,
    SUMMARIZATION,
    TABLE_QUESTION_ANSWERING,
    TABULAR_CLASSIFICATION,
    TABULAR_REGRESSION,
    TEXT_CLASSIFICATION,
    TEXT_GENERATION,
    TEXT_TO_IMAGE,
    TEXT_TO_SPEECH,
    TEXT_TO_VIDEO,
    TOKEN_CLASSIFICATION,
    TRANSLATION,
    VISUAL_QUESTION_ANSWERING,
    ZERO_SHOT_CLASSIFICATION,
    ZERO_SHOT_IMAGE_CLASSIFICATION,
    canonical,
)
from hubroute.types import (
    audio_classification,
    audio_to_audio,
    automatic_speech_recognition,
    document_question_answering,
    feature_extraction,
    fill_mask,
    image_classification,
    image_segmentation,
    image_to_image,
    image_to_text,
    image_to_video,
    object_detection,
    question_answering,
    sentence_similarity,
    summarization,
    table_question_answering,
    tabular_classification,
    tabular_regression,
    text_classification,
    text_generation,
    text_to_image,
    text_to_speech,
    text_to_video,
    token_classification,
    translation,
    visual_question_answering,
    zero_shot_classification,
    zero_shot_image_classification,
)
from hubroute.types._base import AUDIO_TYPES, IMAGE_TYPES, VIDEO_TYPES, TaskSpec
from hubroute.types._shared import check_tabular, normalize_tabular
from hubroute.types._validation import check_binary, translate

__all__ = ["TASKS", "TaskSpec", "encode_output", "get_spec", "parse_input", "parse_output"]

_IN = ("inputs",)
_IMAGE = ("inputs.image",)

TASKS: dict[str, TaskSpec] = {
    spec.task: spec
    for spec in (
        TaskSpec(AUDIO_CLASSIFICATION, audio_classification.AudioClassificationInput,
                 audio_classification.AudioClassificationOutput, binary_input="audio", binary_fields=_IN),
        TaskSpec(AUDIO_TO_AUDIO, audio_to_audio.AudioToAudioInput, audio_to_audio.AudioToAudioOutput,
                 binary_input="audio", binary_fields=_IN),
        TaskSpec(AUTOMATIC_SPEECH_RECOGNITION, automatic_speech_recognition.AutomaticSpeechRecognitionInput,
                 automatic_speech_recognition.AutomaticSpeechRecognitionOutput, binary_input="audio",
                 binary_fields=_IN, openai_route="/v1/audio/transcriptions"),
        TaskSpec(CONVERSATIONAL, dict, dict, openai_route="/v1/chat/completions", stream_output_type=dict),
        TaskSpec(DOCUMENT_QUESTION_ANSWERING, document_question_answering.DocumentQuestionAnsweringInput,
                 document_question_answering.DocumentQuestionAnsweringOutput, binary_input="image",
                 binary_fields=_IMAGE),
        TaskSpec(FEATURE_EXTRACTION, feature_extraction.FeatureExtractionInput,
                 feature_extraction.FeatureExtractionOutput, openai_route="/v1/embeddings"),
        TaskSpec(FILL_MASK, fill_mask.FillMaskInput, fill_mask.FillMaskOutput),
        TaskSpec(IMAGE_CLASSIFICATION, image_classification.ImageClassificationInput,
                 image_classification.ImageClassificationOutput, binary_input="image", binary_fields=_IN),
        TaskSpec(IMAGE_SEGMENTATION, image_segmentation.ImageSegmentationInput,
                 image_segmentation.ImageSegmentationOutput, binary_input="image", binary_fields=_IN),
        TaskSpec(IMAGE_TO_IMAGE, image_to_image.ImageToImageInput, image_to_image.ImageToImageOutput,
                 binary_input="image", binary_fields=_IN, binary_output="image", output_content_types=IMAGE_TYPES),
        TaskSpec(IMAGE_TO_TEXT, image_to_text.ImageToTextInput, image_to_text.ImageToTextOutput,
                 binary_input="image", binary_fields=_IN, list_wrapped=True),
        TaskSpec(IMAGE_TO_VIDEO, image_to_video.ImageToVideoInput, image_to_video.ImageToVideoOutput,
                 binary_input="image", binary_fields=_IN, binary_output="video", output_content_types=VIDEO_TYPES),
        TaskSpec(OBJECT_DETECTION, object_detection.ObjectDetectionInput, object_detection.ObjectDetectionOutput,
                 binary_input="image", binary_fields=_IN),
        TaskSpec(QUESTION_ANSWERING, question_answering.QuestionAnsweringInput,
                 question_answering.QuestionAnsweringOutput),
        TaskSpec(SENTENCE_SIMILARITY, sentence_similarity.SentenceSimilarityInput,
                 sentence_similarity.SentenceSimilarityOutput),
        TaskSpec(SUMMARIZATION, summarization.SummarizationInput, summarization.SummarizationOutput,
                 list_wrapped=True),
        TaskSpec(TABLE_QUESTION_ANSWERING, table_question_answering.TableQuestionAnsweringInput,
                 table_question_answering.TableQuestionAnsweringOutput,
                 normalize=table_question_answering.normalize),
        TaskSpec(TABULAR_CLASSIFICATION, tabular_classification.TabularClassificationInput,
                 tabular_classification.TabularClassificationOutput, normalize=normalize_tabular,
                 check=check_tabular),
        TaskSpec(TABULAR_REGRESSION, tabular_regression.TabularRegressionInput,
                 tabular_regression.TabularRegressionOutput, normalize=normalize_tabular, check=check_tabular),
        TaskSpec(TEXT_CLASSIFICATION, text_classification.TextClassificationInput,
                 text_classification.TextClassificationOutput),
        TaskSpec(TEXT_GENERATION, text_generation.TextGenerationInput, text_generation.TextGenerationOutput,
                 list_wrapped=True, stream_output_type=text_generation.TextGenerationStreamOutput),
        TaskSpec(TEXT_TO_IMAGE, text_to_image.TextToImageInput, text_to_image.TextToImageOutput,
                 binary_output="image", output_content_types=IMAGE_TYPES, openai_route="/v1/images/generations"),
        TaskSpec(TEXT_TO_SPEECH, text_to_speech.TextToSpeechInput, text_to_speech.TextToSpeechOutput,
                 binary_output="audio", output_content_types=AUDIO_TYPES, openai_route="/v1/audio/speech",
                 normalize=text_to_speech.normalize),
        TaskSpec(TEXT_TO_VIDEO, text_to_video.TextToVideoInput, text_to_video.TextToVideoOutput,
                 binary_output="video", output_content_types=VIDEO_TYPES),
        TaskSpec(TOKEN_CLASSIFICATION, token_classification.TokenClassificationInput,
                 token_classification.TokenClassificationOutput),
        TaskSpec(TRANSLATION, translation.TranslationInput, translation.TranslationOutput, list_wrapped=True),
        TaskSpec(VISUAL_QUESTION_ANSWERING, visual_question_answering.VisualQuestionAnsweringInput,
                 visual_question_answering.VisualQuestionAnsweringOutput, binary_input="image",
                 binary_fields=_IMAGE, normalize=visual_question_answering.normalize),
        TaskSpec(ZERO_SHOT_CLASSIFICATION, zero_shot_classification.ZeroShotClassificationInput,
                 zero_shot_classification.ZeroShotClassificationOutput),
        TaskSpec(ZERO_SHOT_IMAGE_CLASSIFICATION,
                 zero_shot_image_classification.ZeroShotImageClassificationInput,
                 zero_shot_image_classification.ZeroShotImageClassificationOutput, binary_input="image",
                 binary_fields=_IN),
    )
}  # fmt: skip

#: top-level fields of a request that belong to the client, not to the task; dropped
_ENVELOPE = ("options", "model")
_ENCODER = msgspec.json.Encoder()


def get_spec(task: str) -> TaskSpec:
    spec = TASKS.get(canonical(task))
    if spec is None:
        raise InvalidRequest(f"Unknown task '{task}'", param="task")
    return spec


def parse_input(task: str, raw: dict[str, Any]) -> Any:
    """Validate a decoded JSON request for `task` and return its `<Task>Input`.

    Raises InvalidRequest naming the offending field: a missing or mistyped field, a parameter the
    task does not define, text where an image or audio is expected."""
    spec = get_spec(task)
    if not isinstance(raw, dict):
        raise InvalidRequest(f"The body of a {spec.task} request must be a JSON object")
    if spec.input_type is dict:
        return raw
    if any(key in raw for key in _ENVELOPE):
        raw = {k: v for k, v in raw.items() if k not in _ENVELOPE}
    if spec.normalize is not None:
        raw = spec.normalize(raw)
    try:
        obj = msgspec.convert(raw, spec.input_type)
    except msgspec.ValidationError as e:
        raise translate(e, spec.task, spec.input_type) from None
    for path in spec.binary_fields:
        check_binary(obj, path, spec.binary_input or "binary")
    if spec.check is not None:
        spec.check(obj)
    return obj


def parse_output(task: str, raw: Any, *, provider: str) -> Any:
    """Validate a provider's decoded JSON answer for `task` into `<Task>Output`.

    Takes HF's Inference API variants of the spec's shape: a one-element list for list_wrapped
    tasks, a single object where the spec has a list. Raises ProviderResponseError."""
    spec = get_spec(task)
    if spec.output_type is dict:
        if not isinstance(raw, dict):
            raise ProviderResponseError(f"{provider} answered {spec.task} with a non-object", provider=provider)
        return raw
    if spec.list_wrapped and isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    elif isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], list) and raw[0] \
            and all(isinstance(x, dict) for x in raw[0]) and typing.get_origin(spec.output_type) is list:
        raw = raw[0]  # HF's API answers a single input as a batch of one: [[{label, score}, ...]]
    elif isinstance(raw, dict) and typing.get_origin(spec.output_type) is list:
        raw = [raw]
    try:
        return msgspec.convert(raw, spec.output_type)
    except msgspec.ValidationError as e:
        raise ProviderResponseError(
            f"{provider} answered {spec.task} with an unexpected shape: {e}", provider=provider
        ) from None


def encode_output(task: str, obj: Any, *, provider: str | None = None) -> bytes:
    """The JSON body of a `task` response.

    `obj` is a `<Task>Output` (or a list of elements); plain decoded JSON is validated first. Binary
    outputs come out with their bytes base64-encoded: the server sends TaskSpec.binary_output's
    field as raw bytes instead when the client wants the file."""
    spec = get_spec(task)
    typed = isinstance(obj, msgspec.Struct) or (isinstance(obj, list) and _typed_list(obj))
    if spec.output_type is not dict and not typed:
        obj = parse_output(task, obj, provider=provider or "unknown")
    if spec.list_wrapped and isinstance(obj, msgspec.Struct):
        obj = [obj]
    return _ENCODER.encode(obj)


def _typed_list(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, msgspec.Struct) for item in items)
