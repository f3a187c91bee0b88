"""Hugging Face's own serverless inference (TGI behind it for chat). Reachable only through HF's router:
no direct base URL, the model id is part of the path, and a JSON schema is sent as TGI's grammar.
The classic tasks take `{"inputs", "parameters"}` at `/models/{model}`; feature-extraction and
sentence-similarity go through their explicit pipeline route, as HF's clients send them."""

from hubroute.providers._base import CHAT, Provider

_MODEL = "/models/{model}"
#: the classic tasks with a JSON answer: text in, or an image / audio in (raw bytes, or base64 in
#: `inputs` when there are parameters); tasks answering with media come with the tasks issue
_JSON_TASKS = (
    "fill-mask", "question-answering", "summarization", "table-question-answering", "text-classification",
    "token-classification", "translation", "zero-shot-classification",
    "audio-classification", "automatic-speech-recognition", "image-classification", "image-segmentation",
    "image-to-text", "object-detection", "zero-shot-image-classification",
)


class HFInference(Provider):
    name = "hf-inference"
    base_url = None
    routes = {
        CHAT: "/models/{model}/v1/chat/completions",
        **dict.fromkeys(_JSON_TASKS, _MODEL),
        "feature-extraction": "/models/{model}/pipeline/feature-extraction",
        "sentence-similarity": "/models/{model}/pipeline/sentence-similarity",
    }
    json_schema_mode = "json_object_with_value"
    embeddings_shape = "hf"
