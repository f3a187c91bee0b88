"""automatic-speech-recognition: an audio clip in, its transcription (optionally timed chunks) out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters
from hubroute.types._shared import GenerationParameters

AutomaticSpeechRecognitionGenerationParameters = GenerationParameters


class AutomaticSpeechRecognitionParameters(Parameters):
    #: whether to output timestamps with the text (as `chunks`)
    return_timestamps: bool | None = None
    generation_parameters: GenerationParameters | None = None


class AutomaticSpeechRecognitionInput(Input):
    #: the audio (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: AutomaticSpeechRecognitionParameters | None = None


class AutomaticSpeechRecognitionOutputChunk(Output):
    text: str
    #: [start, end] in seconds. The spec says numbers; transformers' pipeline sends a null end for
    #: a chunk cut at the end of the audio, so null is accepted.
    timestamp: list[float | None]


class AutomaticSpeechRecognitionOutput(Output):
    text: str
    #: present when return_timestamps was set
    chunks: list[AutomaticSpeechRecognitionOutputChunk] | None = None
