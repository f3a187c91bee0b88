"""fal.ai. Direct calls authenticate with `Authorization: Key <key>` (Bearer through HF's router).

Two APIs under one model id (`fal-ai/flux/dev`, ...):

- sync, `https://fal.run/{id}`: automatic-speech-recognition (the audio inline as a data URI in
  `audio_url`, the answer `{"text"}`), text-to-image (`images[0].url`), text-to-speech (`audio.url`);
- the queue, `https://queue.fal.run/{id}` (through HF's router: `{id}?_subdomain=queue`): text-to-video,
  image-to-video, image-to-image, image-segmentation. The submit answers a `request_id` and a
  `response_url` (`.../{owner}/{app}/requests/{id}`, without the model's sub-path); its `/status` is
  polled until COMPLETED (IN_QUEUE, IN_PROGRESS before), then the result is fetched from it.

Result files are downloaded (no credentials), or decoded when fal inlines them as data: URIs
(`sync_mode`). Status and result URLs are rebuilt on the configured endpoint from the path fal
answers, so the key only ever goes to the host it is configured for. A base URL overridden in the
config takes the queue calls too; fal's own `https://fal.run` sends them to `queue_url`.

LoRA adapters (a mapping with `adapter: lora`) go as `loras: [{path, scale: 1}]`, the path the
weights file on the Hub; `fal-ai/lora` (Stable Diffusion based) also needs its base model named.
"""

from __future__ import annotations

from base64 import b64encode as _b64
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from hubroute.providers._base import Endpoint, HttpRequest, Provider, Target
from hubroute.providers._media import failed
from hubroute.providers.steps import Done, Media, Next, Step, TaskCall, data_uri, dig, fetch_file, result_file
from hubroute.task_names import AUTOMATIC_SPEECH_RECOGNITION as SPEECH_RECOGNITION
from hubroute.task_names import (
    IMAGE_SEGMENTATION,
    IMAGE_TO_IMAGE,
    IMAGE_TO_VIDEO,
    TEXT_TO_IMAGE,
    TEXT_TO_SPEECH,
    TEXT_TO_VIDEO,
)

_SYNC = (SPEECH_RECOGNITION, TEXT_TO_IMAGE, TEXT_TO_SPEECH)
_QUEUED = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, IMAGE_TO_IMAGE, IMAGE_SEGMENTATION)
#: the tasks whose mapping may carry a LoRA adapter
_LORA = frozenset({TEXT_TO_IMAGE, TEXT_TO_VIDEO, IMAGE_TO_VIDEO, IMAGE_TO_IMAGE})
#: a queued request not finished yet
_PENDING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
#: HF's router names the queue host with this query parameter
_QUEUE_QUERY = "_subdomain=queue"
#: fal's Stable Diffusion LoRA endpoint needs a base model; its FLUX ones do not
_SD_LORA = {"fal-ai/lora": "stabilityai/stable-diffusion-xl-base-1.0"}


class FalAI(Provider):
    name = "fal-ai"
    base_url = "https://fal.run"
    #: the queue API's root, for the queued tasks when `base_url` is fal's own
    queue_url: ClassVar[str] = "https://queue.fal.run"
    env_keys = ("FAL_KEY",)
    auth_scheme = "Key"
    routes = dict.fromkeys((*_SYNC, *_QUEUED), "/{model}")
    #: the tasks served by the queue API (submit, poll, fetch the result)
    queued: ClassVar[frozenset[str]] = frozenset(_QUEUED)

    # --- requests -------------------------------------------------------------------------------
    def start_task(self, call: TaskCall, target: Target) -> Next:
        task = call.task
        route = self.route(task, target)  # NotSupported for any other task
        body = orjson.dumps(self.payload(call, target))
        if task in self.queued:
            req = HttpRequest("POST", self.queue_url_for(target.endpoint, route), self.headers(target), body)
            return Next(req, self._queued(call, target))
        req = HttpRequest("POST", target.endpoint.base_url.rstrip("/") + route, self.headers(target), body)
        return Next(req, lambda answer: self.result(call, answer))

    def payload(self, call: TaskCall, target: Target) -> dict[str, Any]:
        """fal's input for one task call (HF parameters pass through, renamed where fal differs)."""
        task, params = call.task, dict(call.parameters)
        if task == SPEECH_RECOGNITION:
            return {"audio_url": data_uri(call.required_binary()), **params}
        if task == TEXT_TO_SPEECH:
            return {"text": call.inputs, **params}
        if task in (TEXT_TO_IMAGE, TEXT_TO_VIDEO):
            body: dict[str, Any] = {"prompt": call.inputs, **params}
            if task == TEXT_TO_IMAGE and "width" in body and "height" in body:
                body["image_size"] = {"width": body.pop("width"), "height": body.pop("height")}
        elif task == IMAGE_TO_IMAGE:
            image = data_uri(call.required_binary())
            if "target_size" in params:
                params["image_size"] = params.pop("target_size")
            body = {"image_url": image, "image_urls": [image], **params}
        elif task == IMAGE_TO_VIDEO:
            body = {"image_url": data_uri(call.required_binary()), **params}
        else:  # image-segmentation: the mask comes back inline, as HF's output carries it
            return {"image_url": data_uri(call.required_binary()), **params, "sync_mode": True}
        if task in _LORA:
            body.update(self.lora(target))
        return body

    @staticmethod
    def lora(target: Target) -> dict[str, Any]:
        """The LoRA fields of a mapping with adapter weights (none otherwise)."""
        weights = target.extra.get("adapter_weights_path")
        if not weights:
            return {}
        path = f"{target.endpoint.hub_url}/{target.model}/resolve/main/{weights}"  # the deployment's Hub
        out: dict[str, Any] = {"loras": [{"path": path, "scale": 1}]}
        base_model = _SD_LORA.get(target.provider_model)
        if base_model:
            out["model_name"] = base_model
        return out

    def queue_url_for(self, endpoint: Endpoint, path: str) -> str:
        """`path` on the queue API of this endpoint (`/{id}`, `/{owner}/{app}/requests/{id}[/status]`)."""
        base = endpoint.base_url.rstrip("/")
        if endpoint.via_hf:
            return f"{base}{path}?{_QUEUE_QUERY}"
        if base == self.base_url:
            base = self.queue_url
        return base + path

    def passthrough_url(self, endpoint: Endpoint, route: str, query: str) -> str:
        """HF's router form `/fal-ai/{route}?_subdomain=queue`: unchanged through HF's router; called
        directly, the queue host (or the overridden base URL) without the marker.

        huggingface_hub builds its status and result URLs from the path of fal's `response_url`
        (`/fal-ai/{app}/requests/{id}`) on the router's host, adding the `/fal-ai` provider prefix only
        for router.huggingface.co: on hubroute's host that path arrives as provider `fal-ai` with the
        route `{app}/requests/{id}`, its owner lost. fal's request paths always hold `{owner}/{app}`
        before `requests`, so the owner is put back."""
        pieces = [p for p in query.split("&") if p] if query else []
        queued = _QUEUE_QUERY in pieces
        parts = route.split("/")
        if queued and len(parts) >= 3 and parts[1] == "requests":
            route = f"{self.name}/{route}"
        if endpoint.via_hf or not queued:
            return super().passthrough_url(endpoint, route, query)
        rest = "&".join(p for p in pieces if p != _QUEUE_QUERY)
        url = self.queue_url_for(endpoint, "/" + route)
        return f"{url}?{rest}" if rest else url

    # --- answers --------------------------------------------------------------------------------
    def _queued(self, call: TaskCall, target: Target) -> Any:
        """The steps after a queue submit: poll the request's status, then fetch its result."""
        endpoint = target.endpoint
        headers = self.auth_headers(endpoint)

        def submitted(answer: Any) -> Step:
            request_id = dig(self.name, answer, "request_id")
            response_url = answer.get("response_url")
            if isinstance(response_url, str) and urlsplit(response_url).path.strip("/"):
                path = urlsplit(response_url).path.rstrip("/")
            else:  # fal's request paths name the app (`owner/app`), not the model's sub-path
                app = "/".join(target.provider_model.split("/")[:2])
                path = f"/{app}/requests/{request_id}"
            status_req = HttpRequest("GET", self.queue_url_for(endpoint, path + "/status"), headers)
            result_req = HttpRequest("GET", self.queue_url_for(endpoint, path), headers)

            def status(answer: Any) -> Step:
                state = answer.get("status") if isinstance(answer, dict) else None
                if state in _PENDING:
                    return Next(status_req, status, poll=True)
                if state == "COMPLETED":
                    error = answer.get("error")
                    if error:
                        raise failed(self.name, "request", answer, error)
                    return Next(result_req, lambda result: self.result(call, result))
                raise failed(self.name, "request", answer, f"unexpected status {state!r}")

            return status(answer)

        return submitted

    def result(self, call: TaskCall, answer: Any) -> Step:
        """A finished request's output: text, or the file it names (downloaded or decoded)."""
        task, name = call.task, self.name
        if isinstance(answer, dict) and answer.get("detail") and not any(
            k in answer for k in ("text", "images", "image", "audio", "video")
        ):
            raise failed(name, "request", answer, answer["detail"])
        if task == SPEECH_RECOGNITION:
            text = dig(name, answer, "text")
            if not isinstance(text, str):
                raise failed(name, "request", answer, "'text' is not a string")
            out: dict[str, Any] = {"text": text}
            chunks = answer.get("chunks")
            if call.parameters.get("return_timestamps") and isinstance(chunks, list):
                out["chunks"] = [{"text": c.get("text", ""), "timestamp": c.get("timestamp")}
                                 for c in chunks if isinstance(c, dict)]
            return Done(out)
        if task in (TEXT_TO_IMAGE, IMAGE_TO_IMAGE):
            return result_file(dig(name, answer, "images", 0, "url"), name, "image")
        if task == TEXT_TO_SPEECH:
            return result_file(dig(name, answer, "audio", "url"), name, "audio")
        if task in (TEXT_TO_VIDEO, IMAGE_TO_VIDEO):
            return result_file(dig(name, answer, "video", "url"), name, "video")
        # image-segmentation: one mask, as huggingface_hub reports it
        mask = dig(name, answer, "image", "url")
        if isinstance(mask, str) and not mask.startswith("data:"):  # a file URL: embed its bytes
            return fetch_file(mask, name, lambda file: Done([{"label": "mask", "mask": _b64(file.data).decode()}]),
                              "mask")
        if not isinstance(mask, str):
            raise failed(name, "request", answer, "no mask in its answer")
        Media.from_b64(name, mask)  # raises if it is not base64
        return Done([{"label": "mask", "mask": mask.partition(",")[2]}])
