"""text-generation: a prompt in, its continuation out; streams token events when `stream` is set.

The spec is imported from text-generation-inference (TGI). Defaults noted below are TGI's.
"""

from __future__ import annotations

from typing import Any, Literal

from hubroute.types._base import Input, Output, Parameters


class TextGenerationInputGrammarType(Input):
    type: Literal["json", "regex", "json_schema"]
    #: a JSON schema (json, json_schema) or a regular expression (regex)
    value: Any


class TextGenerationInputGenerateParameters(Parameters):
    #: LoRA adapter id
    adapter_id: str | None = None
    #: generate best_of sequences and return the one with the highest token logprobs
    best_of: int | None = None
    #: return decoder input token logprobs and ids (default false)
    decoder_input_details: bool | None = None
    #: return generation details (default true)
    details: bool | None = None
    #: activate logits sampling (default false)
    do_sample: bool | None = None
    frequency_penalty: float | None = None
    grammar: TextGenerationInputGrammarType | None = None
    #: default 100
    max_new_tokens: int | None = None
    repetition_penalty: float | None = None
    #: prepend the prompt to the generated text
    return_full_text: bool | None = None
    seed: int | None = None
    #: stop generating when one of these is generated
    stop: list[str] | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_n_tokens: int | None = None
    top_p: float | None = None
    #: truncate the input tokens to this size
    truncate: int | None = None
    typical_p: float | None = None
    #: watermarking (default false)
    watermark: bool | None = None


TextGenerationParameters = TextGenerationInputGenerateParameters


class TextGenerationInput(Input):
    inputs: str
    parameters: TextGenerationInputGenerateParameters | None = None
    #: answer as server-sent events of TextGenerationStreamOutput (default false)
    stream: bool | None = None


FinishReason = Literal["length", "eos_token", "stop_sequence"]


class TextGenerationOutputPrefillToken(Output):
    id: int
    logprob: float
    text: str


class TextGenerationOutputToken(Output):
    id: int
    logprob: float
    special: bool
    text: str


class TextGenerationOutputBestOfSequence(Output):
    finish_reason: FinishReason
    generated_text: str
    generated_tokens: int
    prefill: list[TextGenerationOutputPrefillToken]
    tokens: list[TextGenerationOutputToken]
    seed: int | None = None
    top_tokens: list[list[TextGenerationOutputToken]] | None = None


class TextGenerationOutputDetails(Output):
    finish_reason: FinishReason
    generated_tokens: int
    prefill: list[TextGenerationOutputPrefillToken]
    tokens: list[TextGenerationOutputToken]
    best_of_sequences: list[TextGenerationOutputBestOfSequence] | None = None
    seed: int | None = None
    top_tokens: list[list[TextGenerationOutputToken]] | None = None


class TextGenerationOutput(Output):
    """HF's Inference API answers `[{"generated_text": ...}]` (see TaskSpec.list_wrapped)."""

    generated_text: str
    details: TextGenerationOutputDetails | None = None


class TextGenerationStreamOutputStreamDetails(Output):
    finish_reason: FinishReason
    generated_tokens: int
    input_length: int
    seed: int | None = None


class TextGenerationStreamOutputToken(Output):
    id: int
    logprob: float
    special: bool
    text: str


class TextGenerationStreamOutput(Output):
    """One server-sent event of a stream; the last one carries generated_text and details."""

    index: int
    token: TextGenerationStreamOutputToken
    details: TextGenerationStreamOutputStreamDetails | None = None
    generated_text: str | None = None
    top_tokens: list[TextGenerationStreamOutputToken] | None = None
