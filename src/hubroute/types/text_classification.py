"""text-classification: text in, labels with scores out."""

from __future__ import annotations

from hubroute.types._base import Input, Output, Parameters
from hubroute.types._shared import ClassificationOutputTransform


class TextClassificationParameters(Parameters):
    #: the function applied to the model outputs to get the scores
    function_to_apply: ClassificationOutputTransform | None = None
    #: limit the output to the top K most probable classes
    top_k: int | None = None


class TextClassificationInput(Input):
    inputs: str
    parameters: TextClassificationParameters | None = None


class TextClassificationOutputElement(Output):
    label: str
    score: float


TextClassificationOutput = list[TextClassificationOutputElement]
