"""Hugging Face's own serverless inference (TGI behind it for chat). Reachable only through HF's router:
no direct base URL, the model id is part of the path, and a JSON schema is sent as TGI's grammar.

Every classic task takes `{"inputs", "parameters"}` at `/models/{model}` (a binary input alone goes
as the raw body, beside parameters as base64: `TaskCall.hf_body`); feature-extraction and
sentence-similarity go through their explicit pipeline route, as HF's clients send them. Images,
audio and video come back as raw bytes with their content type.

Text-generation is TGI's native generate API at `/models/{model}`. OpenAI's completions are translated
to it and back by `_tgi`, its token stream rewritten chunk by chunk into OpenAI completion chunks. HF's
text-generation task *is* that API: it goes as it came (every TGI parameter, `details`, `grammar`...,
HF's defaults: greedy unless `do_sample`, the prompt in front unless `return_full_text` is false),
not through the OpenAI translation other providers need; `stream` is left out (the task route
answers JSON)."""

from typing import Any

import orjson

from hubroute.providers import _tgi
from hubroute.providers._base import CHAT, TEXT_GENERATION, HttpRequest, Provider, Target
from hubroute.providers.steps import Done, Next, TaskCall

_MODEL = "/models/{model}"
_TASKS = (
    "audio-classification", "audio-to-audio", "automatic-speech-recognition", "document-question-answering",
    "fill-mask", "image-classification", "image-segmentation", "image-to-image", "image-to-text",
    "object-detection", "question-answering", "summarization", "table-question-answering",
    "tabular-classification", "tabular-regression", "text-classification", "text-to-image", "text-to-speech",
    "token-classification", "translation", "visual-question-answering", "zero-shot-classification",
    "zero-shot-image-classification", TEXT_GENERATION,
)


class HFInference(Provider):
    name = "hf-inference"
    base_url = None
    routes = {
        CHAT: "/models/{model}/v1/chat/completions",
        **dict.fromkeys(_TASKS, _MODEL),
        "feature-extraction": "/models/{model}/pipeline/feature-extraction",
        "sentence-similarity": "/models/{model}/pipeline/sentence-similarity",
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
            return super().start_task(call, target)
        payload: dict[str, Any] = {"inputs": call.inputs, **call.fields}
        payload.pop("stream", None)
        if call.parameters:
            payload["parameters"] = call.parameters
        req = HttpRequest("POST", self.url(TEXT_GENERATION, target), self.headers(target), orjson.dumps(payload))
        return Next(req, lambda data: Done(data if isinstance(data, list) else [data]))
