"""DeepInfra: OpenAI-compatible routes live under `/v1/openai`.

Speech recognition goes to `/v1/openai/audio/transcriptions` as a multipart form (the audio as its
`file` part); `return_timestamps` asks for `verbose_json` and its segments come back as HF's
`chunks` (only then). Text-to-speech answers raw audio from `/v1/openai/audio/speech`."""

from __future__ import annotations

import mimetypes
from typing import Any

from hubroute.errors import ProviderResponseError
from hubroute.inputs.spool import Blob, blob_bytes
from hubroute.providers import _multipart
from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, HttpRequest, Provider, Target
from hubroute.providers._media import SPEECH_OPTIONS, TRANSCRIPTION_OPTIONS, not_json, openai_options, post_json
from hubroute.providers.steps import Done, Next, Step, TaskCall, dig
from hubroute.task_names import AUTOMATIC_SPEECH_RECOGNITION as ASR
from hubroute.task_names import TEXT_TO_SPEECH


class DeepInfra(Provider):
    name = "deepinfra"
    base_url = "https://api.deepinfra.com"
    env_keys = ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN")
    routes = {
        CHAT: "/v1/openai/chat/completions",
        TEXT_GENERATION: "/v1/openai/completions",
        EMBEDDINGS: "/v1/openai/embeddings",
        ASR: "/v1/openai/audio/transcriptions",
        TEXT_TO_SPEECH: "/v1/openai/audio/speech",
    }

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task == ASR:
            stamps = bool(call.parameters.get("return_timestamps"))
            return Next(self.transcription_request(call, target), lambda answer: self._transcript(answer, stamps))
        if call.task == TEXT_TO_SPEECH:
            body = {"input": call.inputs, "model": target.provider_model,
                    **openai_options(call.extra, SPEECH_OPTIONS)}
            return Next(post_json(self, target, self.url(TEXT_TO_SPEECH, target), body), not_json(self.name, "audio"))
        return super().start_task(call, target)

    def transcription_request(self, call: TaskCall, target: Target) -> HttpRequest:
        audio: Blob = call.inputs
        content_type = audio.content_type or "application/octet-stream"
        filename = "audio" + (mimetypes.guess_extension(content_type) or ".wav")
        fields: dict[str, Any] = {"model": target.provider_model,
                                  **openai_options(call.extra, TRANSCRIPTION_OPTIONS)}
        generation = call.parameters.get("generation_parameters") or {}
        if generation.get("temperature") is not None:
            fields["temperature"] = generation["temperature"]
        if call.parameters.get("return_timestamps"):
            fields["response_format"] = "verbose_json"
            fields["timestamp_granularities[]"] = "segment"
        body, form_type = _multipart.encode(fields, [_multipart.FilePart("file", filename, content_type,
                                                                           blob_bytes(audio))])
        headers = self.auth_headers(target.endpoint)
        headers["content-type"] = form_type
        return HttpRequest("POST", self.url(ASR, target), headers, body)

    def _transcript(self, answer: Any, timestamps: bool) -> Step:
        text = dig(self.name, answer, "text")
        if not isinstance(text, str):
            raise ProviderResponseError(f"{self.name} answered a transcription whose text is not a string",
                                        provider=self.name, status_code=200)
        out: dict[str, Any] = {"text": text}
        segments = answer.get("segments")
        if timestamps and isinstance(segments, list):  # HF's `chunks`: only when asked for
            out["chunks"] = [{"text": s.get("text", ""), "timestamp": [s.get("start"), s.get("end")]}
                             for s in segments if isinstance(s, dict)]
        return Done(out)
