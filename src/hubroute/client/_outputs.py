"""Answers in the shapes huggingface_hub returns: typed records, streams, numpy arrays, PIL images,
and text-generation over OpenAI's completions API.

numpy and Pillow are imported here on first use only (`pip install 'hubroute[client]'`).
"""

from __future__ import annotations

import io
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from hubroute.client._backend import Answer, Chunks
from hubroute.client._records import Record, named, typed, wrap
from hubroute.errors import ProviderResponseError

__all__ = ["Record", "named", "typed", "wrap"]

ChatCompletionOutput = named("ChatCompletionOutput")
ChatCompletionStreamOutput = named("ChatCompletionStreamOutput")


def served(record: Any, provider: str | None) -> Any:
    """Note on a record which provider served it (read as `record.provider`)."""
    if isinstance(record, Record):
        object.__setattr__(record, "_provider", provider)
    return record


def task_output(task: str, answer: Answer) -> Any:
    """A task's JSON answer, checked against its `<Task>Output` and returned as HF-named records."""
    from hubroute import types

    if answer.data is None:
        raise ProviderResponseError(f"{task}: expected a JSON answer, got '{answer.content_type}'",
                                    provider=answer.provider or "unknown", status_code=200)
    return served(typed(types.parse_output(task, answer.data, provider=answer.provider or "unknown")),
                  answer.provider)


def media(task: str, answer: Answer, field: str) -> bytes:
    """The bytes of a media answer (raw, or base64 in a JSON `{field: ...}` answer)."""
    if answer.media is not None:
        return answer.media
    value = answer.data.get(field) if isinstance(answer.data, dict) else None
    if isinstance(value, str):
        return b64decode(value)
    raise ProviderResponseError(f"{task}: the answer carries no {field}", provider=answer.provider or "unknown",
                                status_code=200)


def b64decode(value: str) -> bytes:
    """Base64, or a data: URI's payload."""
    import base64

    return base64.b64decode(value.partition(",")[2] if value.startswith("data:") else value)


def image(data: bytes) -> Any:
    """A PIL image, as huggingface_hub's text_to_image returns."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("text_to_image and image_to_image return PIL images: pip install 'hubroute[client]'") \
            from exc
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def array(vectors: Any) -> Any:
    """A float32 numpy array, as huggingface_hub's feature_extraction returns."""
    try:
        import numpy as np
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("feature_extraction returns numpy arrays: pip install 'hubroute[client]'") from exc
    return np.array(vectors, dtype="float32")


class Stream:
    """An async iterator over a streamed answer's chunks, each converted by `convert`; `provider`
    names who serves it. Closing it (or reading it to the end) releases the connection."""

    def __init__(self, chunks: Chunks, convert: Callable[[Any], Any]) -> None:
        self.provider = chunks.provider
        self._chunks = chunks
        self._batches: AsyncIterator[list[Any]] = chunks.batches
        self._buffer: deque[Any] = deque()
        #: each decoded chunk -> what the iterator yields (None: skipped)
        self.convert = convert

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        while not self._buffer:
            self._buffer.extend(await self.next_batch())
        return self._buffer.popleft()

    async def next_batch(self) -> list[Any]:
        """The converted chunks of the next network read (StopAsyncIteration at the end)."""
        if self._buffer:
            items, self._buffer = list(self._buffer), deque()
            return items
        while True:
            batch = await anext(self._batches)
            items = [served(item, self.provider) for item in map(self.convert, batch) if item is not None]
            if items:
                return items

    async def aclose(self) -> None:
        await self._chunks.aclose()


def chat_chunk(obj: Any) -> Any:
    return wrap(obj, ChatCompletionStreamOutput)


# --- text-generation over /v1/completions ------------------------------------------------------------
#: HF text-generation parameter -> OpenAI completions parameter, for those that have one
_OPENAI_NAMES = {"max_new_tokens": "max_tokens", "stop": "stop", "temperature": "temperature", "top_p": "top_p",
                 "seed": "seed", "frequency_penalty": "frequency_penalty", "top_k": "top_k",
                 "repetition_penalty": "repetition_penalty", "best_of": "best_of", "return_full_text": "echo"}
#: TGI-only parameters an OpenAI completions API has no use for
_TGI_ONLY = ("adapter_id", "decoder_input_details", "do_sample", "grammar", "top_n_tokens", "truncate",
             "typical_p", "watermark")
_FINISH = {"stop": "eos_token", "length": "length"}


def completion_body(prompt: str, model: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI completions body for a text-generation call; TGI-only parameters are dropped with a
    warning, as huggingface_hub does for servers that are not TGI."""
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    ignored = [k for k in _TGI_ONLY if parameters.get(k)]
    if ignored:
        warnings.warn(f"text-generation is served over OpenAI's completions API: ignoring {', '.join(ignored)}",
                      UserWarning, stacklevel=4)
    for key, value in parameters.items():
        if value is not None and key in _OPENAI_NAMES:
            body[_OPENAI_NAMES[key]] = value
    return body


def generated(answer: Answer, details: bool) -> Any:
    data = answer.data
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise ProviderResponseError("text-generation answer without choices", provider=answer.provider or "unknown",
                                    status_code=200)
    text = choices[0].get("text") or ""
    if not details:
        return text
    usage = data.get("usage") or {}
    out: dict[str, Any] = {"generated_text": text, "details": {
        "finish_reason": _FINISH.get(choices[0].get("finish_reason") or "", "stop_sequence"),
        "generated_tokens": usage.get("completion_tokens") or 0, "prefill": [], "tokens": [],
        "seed": choices[0].get("seed")}}
    import msgspec

    from hubroute.types.text_generation import TextGenerationOutput

    return served(typed(msgspec.convert(out, TextGenerationOutput)), answer.provider)


class TokenStream:
    """OpenAI completion chunks as text-generation stream items: the token texts, or (`details`)
    TextGenerationStreamOutput records, the last one carrying generated_text and details."""

    def __init__(self, details: bool) -> None:
        self.details = details
        self.text: list[str] = []
        self.index = 0

    def __call__(self, chunk: Any) -> Any:
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not choices:
            return None  # a usage-only chunk
        choice = choices[0]
        token = choice.get("text") or ""
        finish = choice.get("finish_reason")
        if not token and not finish:
            return None
        self.text.append(token)
        self.index += 1
        if not self.details:
            return token or None
        item: dict[str, Any] = {"index": self.index,
                                "token": {"id": 0, "logprob": 0.0, "special": False, "text": token}}
        if finish:
            usage = chunk.get("usage") or {}
            item["generated_text"] = "".join(self.text)
            item["details"] = {"finish_reason": _FINISH.get(finish, "stop_sequence"),
                               "generated_tokens": usage.get("completion_tokens") or self.index,
                               "input_length": usage.get("prompt_tokens") or 0}
        return wrap(item, named("TextGenerationStreamOutput"))
