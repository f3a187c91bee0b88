"""text-to-video: a prompt in, a video out."""

from __future__ import annotations

from hubroute.types._base import Input, Output, Parameters


class TextToVideoParameters(Parameters):
    #: higher follows the prompt more closely, at some cost in quality
    guidance_scale: float | None = None
    #: one or several prompts saying what NOT to include (a list in this task's spec)
    negative_prompt: list[str] | None = None
    #: how many frames to generate (a number in the spec)
    num_frames: float | None = None
    #: more denoising steps, higher quality, slower
    num_inference_steps: int | None = None
    #: seed for the random number generator
    seed: int | None = None


class TextToVideoInput(Input):
    #: the prompt
    inputs: str
    parameters: TextToVideoParameters | None = None


class TextToVideoOutput(Output):
    #: the video; sent as raw bytes with its content type, base64 in JSON
    video: bytes
