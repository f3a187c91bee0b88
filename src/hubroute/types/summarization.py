"""summarization: text in, a summary out."""

from __future__ import annotations

from typing import Any, Literal

from hubroute.types._base import Input, Output, Parameters

SummarizationTruncationStrategy = Literal["do_not_truncate", "longest_first", "only_first", "only_second"]


class SummarizationParameters(Parameters):
    #: clean up the potential extra spaces in the output
    clean_up_tokenization_spaces: bool | None = None
    truncation: SummarizationTruncationStrategy | None = None
    #: additional parametrization of the generation algorithm (free-form in the spec)
    generate_parameters: dict[str, Any] | None = None


class SummarizationInput(Input):
    inputs: str
    parameters: SummarizationParameters | None = None


class SummarizationOutput(Output):
    """HF's Inference API answers `[{"summary_text": ...}]` (see TaskSpec.list_wrapped)."""

    summary_text: str
