"""zero-shot-image-classification: an image and candidate labels in, a score per label out."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hubroute.types._base import Binary, Input, Output, Parameters


class ZeroShotImageClassificationParameters(Parameters):
    #: the labels to choose from (required)
    candidate_labels: Annotated[list[str], msgspec.Meta(min_length=1)]
    #: the sentence the labels are put into, with a placeholder: "This is a photo of {}."
    hypothesis_template: str | None = None


class ZeroShotImageClassificationInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    #: required for this task
    parameters: ZeroShotImageClassificationParameters


class ZeroShotImageClassificationOutputElement(Output):
    label: str
    score: float


ZeroShotImageClassificationOutput = list[ZeroShotImageClassificationOutputElement]
