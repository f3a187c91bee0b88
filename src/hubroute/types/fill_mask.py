"""fill-mask: text with a mask token in, the likeliest fillings out."""

from __future__ import annotations

from hubroute.types._base import Input, Output, Parameters


class FillMaskParameters(Parameters):
    #: limit the scores to these targets instead of the whole vocabulary
    targets: list[str] | None = None
    #: number of predictions to return
    top_k: int | None = None


class FillMaskInput(Input):
    #: the text, with the model's mask token ([MASK], <mask>, ...)
    inputs: str
    parameters: FillMaskParameters | None = None


class FillMaskOutputElement(Output):
    #: the input with the mask replaced by the prediction
    sequence: str
    score: float
    #: the predicted token id
    token: int
    #: the predicted token
    token_str: str


FillMaskOutput = list[FillMaskOutputElement]
