"""sentence-similarity: {source_sentence, sentences} in, one similarity score per sentence out."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hubroute.types._base import Input, Parameters


class SentenceSimilarityInputData(Input):
    #: the text the others are compared with
    source_sentence: str
    #: the texts compared with source_sentence
    sentences: Annotated[list[str], msgspec.Meta(min_length=1)]


class SentenceSimilarityParameters(Parameters):
    """The spec defines no parameters."""


class SentenceSimilarityInput(Input):
    inputs: SentenceSimilarityInputData
    parameters: SentenceSimilarityParameters | None = None


#: one score per entry of `sentences`, in order
SentenceSimilarityOutput = list[float]
