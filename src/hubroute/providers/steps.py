"""A task call as a short exchange with the provider: submit, perhaps poll, perhaps download, done.

Adapters stay pure: `Provider.start_task(call, target)` returns the first step, and every step's
`parse` turns the provider's decoded JSON answer into the next step. `hubroute.routing.jobs` sends
the requests, waits between polls (never blocking the event loop), bounds the whole exchange in time
and attempts, and limits the size of what is downloaded.

    Next(request, parse)            send this; call parse(answer JSON) for what follows
    Next(request, parse, poll=True) the same, after the polling interval (counts against the bounds)
    Done(value)                     the task's output: its JSON shape, or `Media` for bytes
    Next(request, parse, raw=True)  send this; call parse(Media) with the answer's bytes, whatever they are

A 2xx answer whose content type is not JSON or text is the task's media output, whatever step it
answers: it is relayed to the caller as it arrives (an image from hf-inference, a video from a
result URL), never parsed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from hubroute.errors import InvalidRequest, ProviderResponseError
from hubroute.inputs import Binary, sniff
from hubroute.inputs.spool import Blob, SpooledBody, blob_bytes

if TYPE_CHECKING:
    from hubroute.providers._base import HttpRequest


@dataclass(slots=True)
class TaskCall:
    """One task request, validated: the task's `inputs` (binary inputs as a `Blob`, an image inside
    structured inputs too) and its `parameters`."""

    task: str
    inputs: Any
    parameters: dict[str, Any] = field(default_factory=dict)
    #: the spec's other top-level fields, next to `inputs` (feature-extraction's `normalize`,
    #: `truncate`, `prompt_name`...): sent at the top level in HF's wire form
    fields: dict[str, Any] = field(default_factory=dict)
    #: options outside the task's spec that an OpenAI-style route carries (`voice`, `response_format`
    #: of /v1/audio/speech...): adapters use those their provider understands, and ignore the rest
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def binary(self) -> Blob | None:
        """The binary input, when `inputs` is one."""
        return self.inputs if isinstance(self.inputs, Binary | SpooledBody) else None

    def required_binary(self, what: str = "a binary input") -> Blob:
        """The binary input, or a 400 when `inputs` is not one (an adapter that needs an image...)."""
        blob = self.binary
        if blob is None:
            raise InvalidRequest(f"Task '{self.task}' needs {what}", param="inputs")
        return blob

    def hf_body(self) -> tuple[bytes | Blob, str]:
        """Hugging Face's wire form: a binary input alone goes as the raw body with its content type;
        otherwise JSON `{"inputs", "parameters"}`, binaries inside as base64."""
        blob = self.binary
        if blob is not None and not self.parameters and not self.fields:
            return blob, blob.content_type or "application/octet-stream"
        payload: dict[str, Any] = {"inputs": _embed(self.inputs), **self.fields}
        if self.parameters:
            payload["parameters"] = self.parameters
        return orjson.dumps(payload), "application/json"


def _embed(value: Any) -> Any:
    if isinstance(value, Binary | SpooledBody):
        return b64(value)
    if isinstance(value, dict):
        return {k: _embed(v) for k, v in value.items()}
    return value


def b64(blob: Blob) -> str:
    return base64.b64encode(blob_bytes(blob)).decode()


def data_uri(blob: Blob) -> str:
    """The blob as a data: URI, the form providers that take an image or audio URL accept inline."""
    return f"data:{blob.content_type or 'application/octet-stream'};base64,{b64(blob)}"


@dataclass(slots=True, frozen=True)
class Media:
    """A media output held in memory (decoded from base64 in a provider's JSON answer)."""

    data: bytes
    content_type: str

    @classmethod
    def from_b64(cls, provider: str, value: Any, content_type: str | None = None) -> Media:
        if not isinstance(value, str) or not value:
            raise ProviderResponseError(f"{provider} answered without the base64 media it should carry",
                                        provider=provider, status_code=200)
        if value.startswith("data:"):
            header, _, value = value.partition(",")
            content_type = content_type or header[5:].split(";")[0] or None
        try:
            data = base64.b64decode(value, validate=False)
        except ValueError:
            raise ProviderResponseError(f"{provider} answered media that is not valid base64",
                                        provider=provider, status_code=200) from None
        return cls(data, content_type or sniff(data) or "application/octet-stream")


@dataclass(slots=True)
class Done:
    value: Any


@dataclass(slots=True)
class Next:
    request: HttpRequest
    parse: Callable[[Any], Step]
    #: a status poll: sent after the polling interval, counted against the job's bounds
    poll: bool = False
    #: hand `parse` the answer itself, as `Media` (bytes and content type), whatever its type: a file
    #: that goes into the output (a mask, a transcript) rather than being the output
    raw: bool = False


Step = Next | Done


def download(url: Any, provider: str, what: str = "result") -> Next:
    """Fetch a result URL the provider answered with. No credentials go with it (the URL may be on
    another host); its media answer is the output, its size bounded by `jobs.max_result_bytes`. Off
    the provider's own host, the URL and each redirect must pass the address rules of client-given
    URLs (`inputs:`; `routing.jobs` sends it through `Transport.open_checked`)."""
    from hubroute.providers._base import HttpRequest

    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ProviderResponseError(f"{provider} answered without a usable {what} URL", provider=provider,
                                    status_code=200)

    def not_media(answer: Any) -> Step:
        raise ProviderResponseError(f"{provider}'s {what} URL answered JSON, not media", provider=provider,
                                    status_code=200, body=orjson.dumps(answer)[:300].decode(errors="replace"))

    return Next(HttpRequest("GET", url, {}, follow_redirects=True), not_media)


def result_file(url: Any, provider: str, what: str = "result") -> Step:
    """A result file the provider answered with: decoded when inline (a data: URI), else downloaded."""
    if isinstance(url, str) and url.startswith("data:"):
        return Done(Media.from_b64(provider, url))
    return download(url, provider, what)


def fetch_file(url: Any, provider: str, then: Callable[[Media], Step], what: str = "result") -> Next:
    """Fetch a file the provider answered with a URL of (no credentials sent) and build the output
    from its bytes with `then`: for outputs that embed a file (a mask in base64, a transcript)."""
    step = download(url, provider, what)
    return Next(step.request, then, raw=True)


def dig(provider: str, answer: Any, *path: str | int) -> Any:
    """`answer[p0][p1]...`, or a ProviderResponseError naming the missing path."""
    value = answer
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            where = ".".join(str(p) for p in path)
            raise ProviderResponseError(
                f"{provider} answered without '{where}'", provider=provider, status_code=200,
                body=orjson.dumps(answer)[:300].decode(errors="replace") if _dumpable(answer) else None,
            ) from None
    return value


def _dumpable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True
