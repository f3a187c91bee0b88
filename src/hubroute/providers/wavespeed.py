"""WaveSpeedAI. Every task is a job submitted to `/api/v3/{model}`: the answer (`{code, message, data}`)
carries the job's `data.urls.get`, polled (rebuilt on the configured endpoint, so the key stays on
its host) until `data.status` is `completed`, when `data.outputs[0]` is the file to download;
`failed` is an error with WaveSpeed's `data.error`.

text-to-image and text-to-video send `{"prompt", ...parameters}`; image-to-image and image-to-video
the image inline as a data URI in `image`, with the prompt and the other parameters beside it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from hubroute.providers._base import HttpRequest, Provider, Target
from hubroute.providers._media import failed
from hubroute.providers.steps import Next, Step, TaskCall, data_uri, dig, result_file
from hubroute.task_names import IMAGE_TO_IMAGE, IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_VIDEO

_PENDING = frozenset({"created", "pending", "processing"})


class WaveSpeed(Provider):
    name = "wavespeed"
    base_url = "https://api.wavespeed.ai"
    env_keys = ("WAVESPEED_API_KEY",)
    routes = dict.fromkeys((TEXT_TO_IMAGE, TEXT_TO_VIDEO, IMAGE_TO_IMAGE, IMAGE_TO_VIDEO), "/api/v3/{model}")
    #: huggingface_hub polls `{router}/api/v3/predictions/{id}/result` on any host but HF's
    unprefixed_paths = ("/api/v3/predictions/",)

    def start_task(self, call: TaskCall, target: Target) -> Next:
        req = HttpRequest("POST", self.url(call.task, target), self.headers(target),
                          orjson.dumps(self.payload(call)))
        return Next(req, self._job(target))

    @staticmethod
    def payload(call: TaskCall) -> dict[str, Any]:
        if call.task in (TEXT_TO_IMAGE, TEXT_TO_VIDEO):
            return {"prompt": call.inputs, **call.parameters}
        return {"image": data_uri(call.required_binary("an image")), **call.parameters}

    def _job(self, target: Target) -> Any:
        base = target.endpoint.base_url.rstrip("/")
        headers = self.auth_headers(target.endpoint)

        def parse(answer: Any) -> Step:
            code = answer.get("code") if isinstance(answer, dict) else None
            if isinstance(code, int) and code != 200:
                raise failed(self.name, "job", answer, answer.get("message") or f"code {code}")
            data = dig(self.name, answer, "data")
            status = data.get("status") if isinstance(data, dict) else None
            if status == "completed":
                return result_file(dig(self.name, answer, "data", "outputs", 0), self.name, "output")
            if status == "failed":
                raise failed(self.name, "job", answer, data.get("error") or "no reason given")
            if status in _PENDING:
                poll = urlsplit(str(dig(self.name, answer, "data", "urls", "get"))).path
                if not poll.strip("/"):
                    raise failed(self.name, "job", answer, "no status URL in its answer")
                return Next(HttpRequest("GET", base + poll, headers), parse, poll=True)
            raise failed(self.name, "job", answer, f"unexpected status {status!r}")

        return parse
