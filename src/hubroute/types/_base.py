"""Building blocks shared by every task module: the Struct bases, the binary field type, TaskSpec.

Wire names are Hugging Face's (snake_case); a field whose wire name differs says so with
`msgspec.field(name=...)`. Optional fields default to None, meaning "the provider's default"; the
spec's documented default, where it has one, is noted next to the field. Nothing in this package
does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import msgspec

if TYPE_CHECKING:
    #: An image or audio input: a URL, a data URI or base64 string, or raw bytes. Fetching and
    #: decoding are not done here; `hubroute.types.parse_input` only checks the kind of value.
    Binary: TypeAlias = str | bytes
else:
    # msgspec cannot validate `str | bytes` (two str-like types in one union), so it sees Any and
    # parse_input checks every field listed in TaskSpec.binary_fields.
    Binary = Any


class Input(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True, kw_only=True):
    """A request body, or part of one. Unknown fields are refused, not ignored."""


class Parameters(Input):
    """The `parameters` object of a request. Unknown parameters are refused (HF ignores them)."""


class Output(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A response body, or part of one. Extra fields from a provider are dropped, not refused."""


BinaryKind = Literal["image", "audio"]
OutputKind = Literal["image", "audio", "video"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
AUDIO_TYPES = ("audio/flac", "audio/mpeg", "audio/wav", "audio/ogg", "audio/webm")
VIDEO_TYPES = ("video/mp4", "video/webm")


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """Everything the router needs to know about one task's request and response shapes."""

    #: the task's name in hubroute.task_names, e.g. TEXT_TO_IMAGE ("text-to-image")
    task: str
    #: the request type parse_input returns (`dict` for chat: passed through as is)
    input_type: Any
    #: the response type: a Struct, or `list[<Element>]`, or `list[float]`, ...
    output_type: Any
    #: "image" / "audio" when the request carries binary data, None for text/JSON-only tasks
    binary_input: BinaryKind | None = None
    #: dotted paths of the binary fields in the request ("inputs", or "inputs.image")
    binary_fields: tuple[str, ...] = ()
    #: "image" / "audio" / "video" when the response is a file (sent as raw bytes with its content
    #: type); it is also the name of the bytes field of output_type. None: the response is JSON.
    binary_output: OutputKind | None = None
    #: the content types a binary response may have, the usual one first
    output_content_types: tuple[str, ...] = ()
    #: the OpenAI-style route that maps onto this task, if there is one
    openai_route: str | None = None
    #: HF's Inference API sends this object response as a one-element list (and
    #: @huggingface/inference requires the list); encode_output does the same, parse_output takes both
    list_wrapped: bool = False
    #: the type of one streamed event, for tasks that stream
    stream_output_type: Any = None
    #: rewrites a known client variant of the request into the spec's shape before validation
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    #: checks that types alone cannot express; raises InvalidRequest
    check: Callable[[Any], None] | None = None
