"""hubroute's Python client: huggingface_hub's `InferenceClient` / `AsyncInferenceClient` and LiteLLM's
`completion()` family, routed through a hubroute router or direct to the providers.

    _async.py       AsyncInferenceClient (the one implementation)
    _sync.py        InferenceClient, derived from it (coroutines run on a private loop thread)
    _completion.py  completion / acompletion / embedding / aembedding / image_generation / transcription
    _backend.py     the mode protocol; _routed.py (HTTP to a router), _direct.py (the router's engine
                    in-process: same catalog, policies, failover and adapters as `hubroute serve`)
    _records.py     answers with attribute and dict access; _outputs.py HF output shapes
    _inputs.py      binary inputs (bytes, files, paths, URLs, PIL images); _errors.py; _loop.py
    _mcp.py         MCPClient: chat with the tools of MCP servers (the `mcp` SDK, loaded on use)
"""

from hubroute.client._async import AsyncInferenceClient
from hubroute.client._completion import acompletion, aembedding, completion, embedding, image_generation, transcription
from hubroute.client._errors import InferenceTimeoutError
from hubroute.client._mcp import ChatCompletionInputMessage, MCPClient
from hubroute.client._outputs import ChatCompletionStreamOutput
from hubroute.client._records import Record
from hubroute.client._sync import InferenceClient

__all__ = [
    "AsyncInferenceClient",
    "ChatCompletionInputMessage",
    "ChatCompletionStreamOutput",
    "InferenceClient",
    "InferenceTimeoutError",
    "MCPClient",
    "Record",
    "acompletion",
    "aembedding",
    "completion",
    "embedding",
    "image_generation",
    "transcription",
]
