"""Any OpenAI-compatible server named in the config: vLLM, TGI, llama.cpp, Ollama, LM Studio, a
Hugging Face Inference Endpoint given as a URL, or a LiteLLM `openai/<id>` entry with `api_base`.

The configured `base_url` is used as the OpenAI SDK uses it: routes are appended to it, and when its
path does not already end in a version segment (`/v1`, `/v4`, ...), `/v1` is added first, so both
`http://127.0.0.1:8000/v1` and `https://xyz.endpoints.huggingface.cloud` work. The model id is sent
unchanged unless the catalog maps it. Chat (`/chat/completions`), completions (`/completions`) and
embeddings (`/embeddings`, as vLLM, TEI, llama.cpp and Ollama serve them) are routed; which ids the
server has is read from its `GET /models` (see `routing.discovery`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider

_VERSIONED = re.compile(r"/v\d+(beta\d*|alpha\d*)?$")


def api_root(base_url: str) -> str:
    """`base_url` with a version segment guaranteed at its end."""
    base = base_url.rstrip("/")
    if _VERSIONED.search(urlsplit(base).path):
        return base
    return base + "/v1"


class OpenAICompatible(Provider):
    hf_routed = False
    routes = {CHAT: "/chat/completions", TEXT_GENERATION: "/completions", EMBEDDINGS: "/embeddings"}

    def __init__(self, *, name: str, base_url: str, api_key_env: str | None = None,
                 tool_id_length: int | None = None) -> None:
        super().__init__(name=name, base_url=api_root(base_url))
        self.env_keys = (api_key_env,) if api_key_env else ()  # type: ignore[misc]
        self.tool_id_length = tool_id_length  # type: ignore[misc]  # (`providers.<name>.tool_id_length`)
