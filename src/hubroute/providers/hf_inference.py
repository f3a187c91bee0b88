"""Hugging Face's own serverless inference (TGI behind it for chat). Reachable only through HF's router:
no direct base URL, the model id is part of the path, and a JSON schema is sent as TGI's grammar.

Every classic task takes `{"inputs", "parameters"}` at `/models/{model}` (a binary input alone goes
as the raw body, beside parameters as base64: `TaskCall.hf_body`); feature-extraction and
sentence-similarity go through their explicit pipeline route, as HF's clients send them. Images,
audio and video come back as raw bytes with their content type."""

from hubroute.providers._base import CHAT, Provider

_MODEL = "/models/{model}"
_TASKS = (
    "audio-classification", "audio-to-audio", "automatic-speech-recognition", "document-question-answering",
    "fill-mask", "image-classification", "image-segmentation", "image-to-image", "image-to-text",
    "object-detection", "question-answering", "summarization", "table-question-answering",
    "tabular-classification", "tabular-regression", "text-classification", "text-to-image", "text-to-speech",
    "token-classification", "translation", "visual-question-answering", "zero-shot-classification",
    "zero-shot-image-classification",
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
