"""image-to-image: an image (and usually a prompt) in, an image out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters
from hubroute.types._shared import TargetSize

ImageToImageTargetSize = TargetSize


class ImageToImageParameters(Parameters):
    #: the text prompt guiding the generation
    prompt: str | None = None
    #: what NOT to include in the image
    negative_prompt: str | None = None
    #: for diffusion models: higher follows the prompt more closely, at some cost in quality
    guidance_scale: float | None = None
    #: for diffusion models: more steps, higher quality, slower
    num_inference_steps: int | None = None
    #: the output size; only some providers and models support it
    target_size: TargetSize | None = None


class ImageToImageInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: ImageToImageParameters | None = None


class ImageToImageOutput(Output):
    #: the image; sent as raw bytes with its content type, base64 in JSON
    image: bytes
