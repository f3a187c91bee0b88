"""image-to-video: an image (and usually a prompt) in, a video out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters
from hubroute.types._shared import TargetSize

ImageToVideoTargetSize = TargetSize


class ImageToVideoParameters(Parameters):
    #: the text prompt guiding the generation
    prompt: str | None = None
    #: what NOT to include in the video
    negative_prompt: str | None = None
    #: for diffusion models: higher follows the prompt more closely, at some cost in quality
    guidance_scale: float | None = None
    #: how many frames to generate (a number in the spec)
    num_frames: float | None = None
    #: more denoising steps, higher quality, slower
    num_inference_steps: int | None = None
    #: seed for the random number generator
    seed: int | None = None
    #: the size of the video frames
    target_size: TargetSize | None = None


class ImageToVideoInput(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: ImageToVideoParameters | None = None


class ImageToVideoOutput(Output):
    #: the video; sent as raw bytes with its content type, base64 in JSON
    video: bytes
