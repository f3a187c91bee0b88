"""image-to-text: an image in, a caption out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters
from hubroute.types._shared import GenerationParameters

ImageToTextGenerationParameters = GenerationParameters


class ImageToTextParameters(Parameters):
    #: the maximum number of tokens to generate
    max_new_tokens: int | None = None
    generation_parameters: GenerationParameters | None = None


class ImageToTextInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: ImageToTextParameters | None = None


class ImageToTextOutput(Output):
    """HF's Inference API answers `[{"generated_text": ...}]` (see TaskSpec.list_wrapped)."""

    generated_text: str
