"""text-to-speech: text in, audio out. Maps onto /v1/audio/speech."""

from __future__ import annotations

from typing import Any

from hubroute.types._base import Input, Output, Parameters
from hubroute.types._shared import GENERATION_PARAMETER_NAMES, GenerationParameters

TextToSpeechGenerationParameters = GenerationParameters


class TextToSpeechParameters(Parameters):
    generation_parameters: GenerationParameters | None = None


class TextToSpeechInput(Input):
    inputs: str
    parameters: TextToSpeechParameters | None = None


class TextToSpeechOutput(Output):
    #: the audio; sent as raw bytes with its content type, base64 in JSON
    audio: bytes
    #: its sampling rate in Hz
    sampling_rate: float | None = None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """huggingface_hub sends the generation parameters flat in `parameters` (`temperature`, ...);
    the spec nests them in `parameters.generation_parameters`. Move them there."""
    params = raw.get("parameters")
    if not isinstance(params, dict) or not GENERATION_PARAMETER_NAMES.intersection(params):
        return raw
    nested = params.get("generation_parameters")
    if nested is not None and not isinstance(nested, dict):
        return raw  # let validation name the bad field
    moved = {k: v for k, v in params.items() if k in GENERATION_PARAMETER_NAMES}
    rest = {k: v for k, v in params.items() if k not in GENERATION_PARAMETER_NAMES}
    rest["generation_parameters"] = {**moved, **(nested or {})}
    return {**raw, "parameters": rest}
