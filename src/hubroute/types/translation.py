"""translation: text in, its translation out."""

from __future__ import annotations

from typing import Any, Literal

from hubroute.types._base import Input, Output, Parameters

TranslationTruncationStrategy = Literal["do_not_truncate", "longest_first", "only_first", "only_second"]


class TranslationParameters(Parameters):
    #: source language (for multilingual models that need it)
    src_lang: str | None = None
    #: target language (for multilingual models that need it)
    tgt_lang: str | None = None
    #: clean up the potential extra spaces in the output
    clean_up_tokenization_spaces: bool | None = None
    truncation: TranslationTruncationStrategy | None = None
    #: additional parametrization of the generation algorithm (free-form in the spec)
    generate_parameters: dict[str, Any] | None = None


class TranslationInput(Input):
    inputs: str
    parameters: TranslationParameters | None = None


class TranslationOutput(Output):
    """HF's Inference API answers `[{"translation_text": ...}]` (see TaskSpec.list_wrapped)."""

    translation_text: str
