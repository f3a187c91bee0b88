"""Replicate's predictions API. A model id `owner/model` is run at `/v1/models/{id}/predictions`; a
pinned version `owner/model:version` at `/v1/predictions` with `version` in the body. Every request
says `Prefer: wait`, so most predictions answer finished; one still `starting` or `processing` is
polled at its `urls.get` (rebuilt on the configured endpoint, so the key stays on its host) until it
`succeeded` (`failed` and `canceled` are errors carrying Replicate's `error`).

Inputs go in `input`: text-to-image and text-to-video a `prompt`, text-to-speech a `text`,
automatic-speech-recognition the audio as a data URI in `audio`, image-to-image the image under
each name Replicate's models use (`image`, `images`, `input_image`, `input_images`). Outputs: a file
URL (or a list of them: the first) is downloaded; speech recognition answers text (a string, or
`transcription` / `translation` in an object). A LoRA mapping runs on its base model with
`lora_weights` naming the Hub repository.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from hubroute.providers._base import HttpRequest, Provider, Target
from hubroute.providers._media import failed
from hubroute.providers.steps import Done, Next, Step, TaskCall, data_uri, dig, fetch_file, result_file
from hubroute.task_names import AUTOMATIC_SPEECH_RECOGNITION as SPEECH_RECOGNITION
from hubroute.task_names import IMAGE_TO_IMAGE, TEXT_TO_IMAGE, TEXT_TO_SPEECH, TEXT_TO_VIDEO

_PENDING = frozenset({"starting", "processing"})
_FAILED = frozenset({"failed", "canceled", "aborted"})


class Replicate(Provider):
    name = "replicate"
    base_url = "https://api.replicate.com"
    env_keys = ("REPLICATE_API_TOKEN",)
    routes = dict.fromkeys(
        (TEXT_TO_IMAGE, TEXT_TO_SPEECH, TEXT_TO_VIDEO, IMAGE_TO_IMAGE, SPEECH_RECOGNITION),
        "/v1/models/{model}/predictions",
    )
    extra_headers = {"prefer": "wait"}

    def route(self, task: str, target: Target) -> str:
        route = super().route(task, target)  # NotSupported first
        return "/v1/predictions" if ":" in target.provider_model else route

    def start_task(self, call: TaskCall, target: Target) -> Next:
        req = HttpRequest("POST", self.url(call.task, target), self.headers(target),
                          orjson.dumps(self.payload(call, target)))
        return Next(req, self._prediction(call, target))

    def payload(self, call: TaskCall, target: Target) -> dict[str, Any]:
        task, params = call.task, call.parameters
        if task == SPEECH_RECOGNITION:
            inputs: dict[str, Any] = {"audio": data_uri(call.required_binary()), **params}
        elif task == IMAGE_TO_IMAGE:
            image = data_uri(call.required_binary())
            inputs = {"image": image, "images": [image], "input_image": image, "input_images": [image], **params}
        elif task == TEXT_TO_SPEECH:
            inputs = {"text": call.inputs, **params}
        else:
            inputs = {"prompt": call.inputs, **params}
            if task == TEXT_TO_IMAGE and target.extra.get("adapter_weights_path"):
                inputs["lora_weights"] = f"{target.endpoint.hub_url}/{target.model}"
        body: dict[str, Any] = {"input": inputs}
        version = target.provider_model.partition(":")[2]
        if version:
            body["version"] = version
        return body

    def _prediction(self, call: TaskCall, target: Target) -> Any:
        base = target.endpoint.base_url.rstrip("/")
        headers = self.auth_headers(target.endpoint)
        media = call.task != SPEECH_RECOGNITION

        def parse(answer: Any) -> Step:
            if not isinstance(answer, dict):
                raise failed(self.name, "prediction", answer, "the answer is not a prediction")
            status, output = answer.get("status"), answer.get("output")
            if status in _FAILED:
                raise failed(self.name, "prediction", answer, answer.get("error") or status)
            # a file URL is final as soon as it is given; text may still be growing until `succeeded`
            if status == "succeeded" or (media and output is not None):
                if output is None:
                    raise failed(self.name, "prediction", answer, "it has no output")
                if media:
                    return _media(self.name, output)
                transcript = output.get("txt_file") if isinstance(output, dict) else None
                if _text_in(output) is None and isinstance(transcript, str):  # only a transcript file
                    return fetch_file(transcript, self.name, lambda file: Done({"text": file.data.decode()}),
                                      "transcript")
                return Done({"text": _text(self.name, answer, output)})
            if status in _PENDING:
                poll = urlsplit(str(dig(self.name, answer, "urls", "get"))).path
                if not poll.strip("/"):
                    raise failed(self.name, "prediction", answer, "no status URL in its answer")
                return Next(HttpRequest("GET", base + poll, headers), parse, poll=True)
            raise failed(self.name, "prediction", answer, f"unexpected status {status!r}")

        return parse


def _media(provider: str, output: Any) -> Step:
    url = output[0] if isinstance(output, list) and output else output
    return result_file(url, provider, "output")


def _text_in(output: Any) -> str | None:
    if isinstance(output, list) and output:
        output = output[0]
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        for key in ("translation", "transcription", "text"):
            if isinstance(output.get(key), str):
                return str(output[key])
    return None


def _text(provider: str, answer: Any, output: Any) -> str:
    text = _text_in(output)
    if text is None:
        raise failed(provider, "prediction", answer, "no transcription in its output")
    return text
