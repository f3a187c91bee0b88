"""zero-shot-classification: text and candidate labels in, a score per label out."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hubroute.types._base import Input, Output, Parameters


class ZeroShotClassificationParameters(Parameters):
    #: the labels to choose from (required)
    candidate_labels: Annotated[list[str], msgspec.Meta(min_length=1)]
    #: the sentence the labels are put into, with a placeholder: "This example is {}."
    hypothesis_template: str | None = None
    #: whether several labels can be true at once (scores then don't sum to 1)
    multi_label: bool | None = None


class ZeroShotClassificationInput(Input):
    inputs: str
    #: required for this task
    parameters: ZeroShotClassificationParameters


class ZeroShotClassificationOutputElement(Output):
    label: str
    score: float


ZeroShotClassificationOutput = list[ZeroShotClassificationOutputElement]
