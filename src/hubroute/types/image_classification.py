"""image-classification: an image in, labels with scores out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters
from hubroute.types._shared import ClassificationOutputTransform


class ImageClassificationParameters(Parameters):
    #: the function applied to the model outputs to get the scores
    function_to_apply: ClassificationOutputTransform | None = None
    #: limit the output to the top K most probable classes
    top_k: int | None = None


class ImageClassificationInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: ImageClassificationParameters | None = None


class ImageClassificationOutputElement(Output):
    label: str
    score: float


ImageClassificationOutput = list[ImageClassificationOutputElement]
