"""Hugging Face's own serverless inference (TGI behind it for chat). Reachable only through HF's router:
no direct base URL, the model id is part of the path, and a JSON schema is sent as TGI's grammar.

Every classic task is sent as huggingface_hub's InferenceClient sends it (its `_client.py` methods and
`_providers/hf_inference.py` helpers are the reference; tests/providers/test_hf_inference.py compares):
`{"inputs", "parameters"}` at `/models/{model}`, a binary input alone as the raw body and as base64
beside parameters; feature-extraction and sentence-similarity through their pipeline route,
feature-extraction's options at the top level. Where huggingface_hub's shape is not the spec's:
tabular-classification goes as `{"table", "parameters"}`, visual-question-answering as `{"inputs":
image, "image", "question", "parameters"}`, text-to-speech with its generation parameters flat in
`parameters`, table-question-answering with the Hub model id in `parameters.model` when the request
carried one. One difference on purpose: an empty `parameters` is left out where huggingface_hub sends
`{}` (as @huggingface/inference does; hf-inference reads both alike). tabular-regression, which
huggingface_hub does not send to hf-inference, keeps @huggingface/inference's `{"inputs": {"data"}}`.
Images, audio and video come back as raw bytes with their content type.

Text-generation is TGI's native generate API at `/models/{model}`. OpenAI's completions are translated
to it and back by `_tgi`, its token stream rewritten chunk by chunk into OpenAI completion chunks. HF's
text-generation task *is* that API: it goes as it came (every TGI parameter, `details`, `grammar`...,
HF's defaults: greedy unless `do_sample`, the prompt in front unless `return_full_text` is false),
not through the OpenAI translation other providers need; `stream` is left out (the task route
answers JSON)."""

from typing import Any

import orjson

from hubroute.inputs import Binary
from hubroute.inputs.spool import Blob, SpooledBody
from hubroute.providers import _tgi
from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, HttpRequest, Provider, Target
from hubroute.providers.steps import Done, Next, TaskCall, b64
from hubroute.task_names import (
    AUDIO_CLASSIFICATION,
    AUDIO_TO_AUDIO,
    AUTOMATIC_SPEECH_RECOGNITION,
    DOCUMENT_QUESTION_ANSWERING,
    FILL_MASK,
    IMAGE_CLASSIFICATION,
    IMAGE_SEGMENTATION,
    IMAGE_TO_IMAGE,
    IMAGE_TO_TEXT,
    OBJECT_DETECTION,
    QUESTION_ANSWERING,
    SENTENCE_SIMILARITY,
    SUMMARIZATION,
    TABLE_QUESTION_ANSWERING,
    TABULAR_CLASSIFICATION,
    TABULAR_REGRESSION,
    TEXT_CLASSIFICATION,
    TEXT_TO_IMAGE,
    TEXT_TO_SPEECH,
    TOKEN_CLASSIFICATION,
    TRANSLATION,
    VISUAL_QUESTION_ANSWERING,
    ZERO_SHOT_CLASSIFICATION,
    ZERO_SHOT_IMAGE_CLASSIFICATION,
)

_MODEL = "/models/{model}"
_TASKS = (
    AUDIO_CLASSIFICATION, AUDIO_TO_AUDIO, AUTOMATIC_SPEECH_RECOGNITION, DOCUMENT_QUESTION_ANSWERING, FILL_MASK,
    IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION, IMAGE_TO_IMAGE, IMAGE_TO_TEXT, OBJECT_DETECTION, QUESTION_ANSWERING,
    SUMMARIZATION, TABLE_QUESTION_ANSWERING, TABULAR_CLASSIFICATION, TABULAR_REGRESSION, TEXT_CLASSIFICATION,
    TEXT_TO_IMAGE, TEXT_TO_SPEECH, TOKEN_CLASSIFICATION, TRANSLATION, VISUAL_QUESTION_ANSWERING,
    ZERO_SHOT_CLASSIFICATION, ZERO_SHOT_IMAGE_CLASSIFICATION, TEXT_GENERATION,
)


class HFInference(Provider):
    name = "hf-inference"
    base_url = None
    routes = {
        CHAT: "/models/{model}/v1/chat/completions",
        **dict.fromkeys(_TASKS, _MODEL),
        EMBEDDINGS: "/models/{model}/pipeline/feature-extraction",
        SENTENCE_SIMILARITY: "/models/{model}/pipeline/sentence-similarity",
    }
    json_schema_mode = "json_object_with_value"
    embeddings_shape = "hf"

    def rewrites(self, task: str) -> bool:
        return task == TEXT_GENERATION  # TGI's token events and answers become OpenAI completions

    def build_completion(self, body: dict[str, Any], target: Target) -> HttpRequest:
        payload = _tgi.completion_payload(body)
        return HttpRequest("POST", self.url(TEXT_GENERATION, target), self.headers(target), orjson.dumps(payload),
                           stream=bool(payload.get("stream")))

    def check_completion(self, data: Any) -> Any:
        if isinstance(data, dict) and "choices" in data:
            return super().check_completion(data)
        return _tgi.completion(self.name, data)

    def adapt_chunk(self, obj: dict[str, Any]) -> dict[str, Any]:
        if _tgi.is_event(obj):
            return _tgi.completion_chunk(obj)
        return super().adapt_chunk(obj)

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task != TEXT_GENERATION:
            body, content_type = hub_body(call, target)
            headers = self.headers(target)
            headers["content-type"] = content_type
            req = HttpRequest("POST", self.url(call.task, target), headers, body)
            return Next(req, lambda data: Done(self.task_answer(call.task, data)))
        payload: dict[str, Any] = {"inputs": call.inputs, **call.fields}
        payload.pop("stream", None)
        if call.parameters:
            payload["parameters"] = call.parameters
        req = HttpRequest("POST", self.url(TEXT_GENERATION, target), self.headers(target), orjson.dumps(payload))
        return Next(req, lambda data: Done(data if isinstance(data, list) else [data]))


def hub_body(call: TaskCall, target: Target) -> tuple[bytes | Blob, str]:
    """The body and content type huggingface_hub sends hf-inference for `call` (see the module's doc)."""
    task, parameters = call.task, dict(call.parameters)
    if task == TEXT_TO_SPEECH:
        parameters = {**parameters.pop("generation_parameters", {}), **parameters}
    elif task == TABLE_QUESTION_ANSWERING and "model" in parameters:
        parameters["model"] = target.model
    if task == TABULAR_CLASSIFICATION:
        payload = {"table": call.inputs["data"]}
    elif task == VISUAL_QUESTION_ANSWERING:
        image = b64(call.inputs["image"])
        payload = {"inputs": image, "image": image, "question": call.inputs["question"]}
    elif (blob := call.binary) is not None and not parameters and not call.fields:
        return blob, blob.content_type or "application/octet-stream"
    else:
        payload = {"inputs": _base64(call.inputs), **call.fields}
    if parameters:
        payload["parameters"] = parameters
    return orjson.dumps(payload), "application/json"


def _base64(inputs: Any) -> Any:
    """`inputs` with its binary values (the input itself, or an image inside it) as base64."""
    if isinstance(inputs, dict):
        return {key: _base64(value) for key, value in inputs.items()}
    return b64(inputs) if isinstance(inputs, Binary | SpooledBody) else inputs
