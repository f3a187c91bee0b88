"""hubroute: a self-hostable inference router for Hugging Face Hub models, and its Python client.

    from hubroute import InferenceClient, AsyncInferenceClient      # huggingface_hub's clients
    from hubroute import completion, acompletion, embedding, ...    # LiteLLM's functions
    from hubroute import MCPClient                                  # huggingface_hub's MCP client

Importing `hubroute` loads nothing else: the client (and through it the router's engine and its HTTP
clients) is imported on first use of one of these names, numpy and Pillow only by the tasks that
return arrays and images, and the server never by the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "InferenceClient": "hubroute.client",
    "AsyncInferenceClient": "hubroute.client",
    "InferenceTimeoutError": "hubroute.client",
    "completion": "hubroute.client",
    "acompletion": "hubroute.client",
    "embedding": "hubroute.client",
    "aembedding": "hubroute.client",
    "image_generation": "hubroute.client",
    "transcription": "hubroute.client",
    # the MCP client (the `mcp` SDK is imported when a server is added) and the types it yields
    "MCPClient": "hubroute.client",
    "ChatCompletionInputMessage": "hubroute.client",
    "ChatCompletionStreamOutput": "hubroute.client",
}

if TYPE_CHECKING:
    from hubroute.client import (
        AsyncInferenceClient,
        ChatCompletionInputMessage,
        ChatCompletionStreamOutput,
        InferenceClient,
        InferenceTimeoutError,
        MCPClient,
        acompletion,
        aembedding,
        completion,
        embedding,
        image_generation,
        transcription,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hubroute' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "AsyncInferenceClient",
    "ChatCompletionInputMessage",
    "ChatCompletionStreamOutput",
    "InferenceClient",
    "InferenceTimeoutError",
    "MCPClient",
    "__version__",
    "acompletion",
    "aembedding",
    "completion",
    "embedding",
    "image_generation",
    "transcription",
]
