"""text-to-image: a prompt in, an image out. Maps onto /v1/images/generations."""

from __future__ import annotations

from hubroute.types._base import Input, Output, Parameters


class TextToImageParameters(Parameters):
    #: higher follows the prompt more closely; too high causes saturation and artifacts
    guidance_scale: float | None = None
    #: what NOT to include in the image
    negative_prompt: str | None = None
    #: more denoising steps, higher quality, slower
    num_inference_steps: int | None = None
    #: the height in pixels of the output image
    height: int | None = None
    #: the width in pixels of the output image
    width: int | None = None
    #: override the scheduler with a compatible one
    scheduler: str | None = None
    #: seed for the random number generator
    seed: int | None = None


class TextToImageInput(Input):
    #: the prompt
    inputs: str
    parameters: TextToImageParameters | None = None


class TextToImageOutput(Output):
    #: the image; sent as raw bytes with its content type, base64 in JSON
    image: bytes
