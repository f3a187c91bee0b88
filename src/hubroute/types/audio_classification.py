"""audio-classification: an audio clip in, labels with scores out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters
from hubroute.types._shared import ClassificationOutputTransform


class AudioClassificationParameters(Parameters):
    #: the function applied to the model outputs to get the scores
    function_to_apply: ClassificationOutputTransform | None = None
    #: limit the output to the top K most probable classes
    top_k: int | None = None


class AudioClassificationInput(Input):
    #: the audio (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: AudioClassificationParameters | None = None


class AudioClassificationOutputElement(Output):
    label: str
    score: float


AudioClassificationOutput = list[AudioClassificationOutputElement]
