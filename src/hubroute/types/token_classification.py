"""token-classification: text in, labelled spans (named entities, parts of speech, ...) out."""

from __future__ import annotations

from typing import Literal

from hubroute.types._base import Input, Output, Parameters

TokenClassificationAggregationStrategy = Literal["none", "simple", "first", "average", "max"]


class TokenClassificationParameters(Parameters):
    #: how tokens are fused into entities
    aggregation_strategy: TokenClassificationAggregationStrategy | None = None
    #: labels to drop from the output
    ignore_labels: list[str] | None = None
    #: overlap in tokens between chunks when the text is split
    stride: int | None = None


class TokenClassificationInput(Input):
    inputs: str
    parameters: TokenClassificationParameters | None = None


class TokenClassificationOutputElement(Output):
    #: the span's text
    word: str
    score: float
    #: character offsets of the span in the input
    start: int
    end: int
    #: the label, when no aggregation was done
    entity: str | None = None
    #: the label of the group, when tokens were aggregated
    entity_group: str | None = None


TokenClassificationOutput = list[TokenClassificationOutputElement]
