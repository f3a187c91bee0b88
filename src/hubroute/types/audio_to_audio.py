"""audio-to-audio: an audio clip in (speech enhancement, source separation), labelled audio out."""

from __future__ import annotations

import msgspec

from hubroute.types._base import Binary, Input, Output, Parameters


class AudioToAudioParameters(Parameters):
    """The spec defines no parameters."""


class AudioToAudioInput(Input):
    #: the audio (URL, base64 or data URI, or raw bytes)
    inputs: Binary
    parameters: AudioToAudioParameters | None = None


class AudioToAudioOutputElement(Output):
    """One generated audio file, as a JSON object (the response itself is JSON, not audio)."""

    label: str
    #: the generated audio, base64-encoded
    blob: str
    #: its content type; the wire name has a hyphen
    content_type: str = msgspec.field(name="content-type")


AudioToAudioOutput = list[AudioToAudioOutputElement]
