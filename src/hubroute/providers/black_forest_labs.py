"""Black Forest Labs (FLUX): sold directly, no longer routed by Hugging Face. The key goes in an
`X-Key` header (Bearer only through Hugging Face's router).

Text-to-image is a job: `POST /v1/{model}` answers `{id, polling_url}`; the polling URL is read until
`status == "Ready"`, then the image at `result.sample` is downloaded. `Error`, `Content Moderated`,
`Request Moderated` and `Task not found` end the job as failed. The key rides on the polls only when
the polling URL is the API's own host (a BFL regional API host, on a direct call)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hubroute.providers._base import Endpoint, Provider, Target
from hubroute.providers._media import failed, get, post_json, renamed, same_origin
from hubroute.providers.steps import Next, Step, TaskCall, dig, download
from hubroute.task_names import TEXT_TO_IMAGE

_PARAMETERS = {"num_inference_steps": "steps", "guidance_scale": "guidance"}
READY = "Ready"
FAILED = frozenset({"Error", "Content Moderated", "Request Moderated", "Task not found"})


class BlackForestLabs(Provider):
    name = "black-forest-labs"
    base_url = "https://api.us1.bfl.ai"
    env_keys = ("BFL_API_KEY",)
    hf_routed = False
    routes = {TEXT_TO_IMAGE: "/v1/{model}"}
    #: the header that carries the key on direct calls (no scheme)
    key_header = "x-key"

    def auth_headers(self, endpoint: Endpoint) -> dict[str, str]:
        if endpoint.via_hf or not endpoint.api_key:
            return super().auth_headers(endpoint)
        return {**self.extra_headers, self.key_header: endpoint.api_key}

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task != TEXT_TO_IMAGE:
            return super().start_task(call, target)
        body = {"prompt": call.inputs, **renamed(call.parameters, _PARAMETERS)}
        return Next(post_json(self, target, self.url(TEXT_TO_IMAGE, target), body), self._job(target))

    def trusts(self, url: str, endpoint: Endpoint) -> bool:
        """Whether the key may go to `url`: the endpoint's own origin, or a BFL API host on a direct call."""
        if same_origin(url, endpoint.base_url):
            return True
        parts = urlsplit(url)
        return not endpoint.via_hf and parts.scheme == "https" and (parts.hostname or "").endswith(".bfl.ai")

    def _job(self, target: Target) -> Any:
        def submitted(answer: Any) -> Step:
            url = dig(self.name, answer, "polling_url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise failed(self.name, "image generation", answer, "no usable polling_url in its answer")
            return poll(url)

        def poll(url: str) -> Next:
            request = get(self, target, url, credentials=self.trusts(url, target.endpoint))
            return Next(request, lambda answer: status(url, answer), poll=True)

        def status(url: str, answer: Any) -> Step:
            state = dig(self.name, answer, "status")
            if state == READY:
                return download(dig(self.name, answer, "result", "sample"), self.name, "image")
            if state in FAILED:
                details = answer.get("details") or answer.get("error")
                raise failed(self.name, "image generation", answer,
                             f"{state}: {details}" if isinstance(details, str) and details else state)
            return poll(url)  # Pending, Queued, Processing...

        return submitted
