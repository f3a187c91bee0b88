"""Z.ai (GLM models). Requests from Hugging Face's integration identify their channel and ask for English;
the API offers JSON mode (`json_object`) but no JSON-schema mode. GLM reasoning models answer in
`reasoning_content`, renamed to the `reasoning` field Hugging Face's clients read.

Images are an asynchronous job: `/api/paas/v4/async/images/generations` answers `{id, task_status}`,
`/api/paas/v4/async-result/{id}` is polled until `SUCCESS` (`FAIL` ends it), and the image at
`image_result[0].url` is downloaded. Width and height go as `size: "WxH"`."""

from __future__ import annotations

from typing import Any

from hubroute.providers._base import CHAT, Provider, Target
from hubroute.providers._media import failed, get, post_json, renamed
from hubroute.providers.steps import Next, Step, TaskCall, dig, download
from hubroute.task_names import TEXT_TO_IMAGE

RESULT_ROUTE = "/api/paas/v4/async-result/{id}"


class ZaiOrg(Provider):
    name = "zai-org"
    base_url = "https://api.z.ai"
    env_keys = ("ZAI_API_KEY",)
    routes = {CHAT: "/api/paas/v4/chat/completions", TEXT_TO_IMAGE: "/api/paas/v4/async/images/generations"}
    extra_headers = {"x-source-channel": "hugging_face", "accept-language": "en-US,en"}
    json_schema_mode = "json_object"
    reasoning_key = "reasoning_content"

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task == TEXT_TO_IMAGE:
            params = renamed(call.parameters, {})
            width, height = params.pop("width", None), params.pop("height", None)  # one side alone: no size
            body: dict[str, Any] = {"model": target.provider_model, "prompt": call.inputs}
            if width is not None and height is not None:
                body["size"] = f"{width}x{height}"
            body.update(params)
            return Next(post_json(self, target, self.url(TEXT_TO_IMAGE, target), body), self._job(target))
        return super().start_task(call, target)

    def _job(self, target: Target) -> Any:
        def parse(answer: Any) -> Step:
            task_id = dig(self.name, answer, "id")
            status = answer.get("task_status")
            if status == "SUCCESS":
                return download(dig(self.name, answer, "image_result", 0, "url"), self.name, "image")
            if status == "FAIL" or answer.get("error"):
                error = answer.get("error")
                raise failed(self.name, "image generation", answer,
                             error.get("message") if isinstance(error, dict) else error)
            poll_url = target.endpoint.base_url.rstrip("/") + RESULT_ROUTE.format(id=task_id)
            return Next(get(self, target, poll_url), parse, poll=True)

        return parse
