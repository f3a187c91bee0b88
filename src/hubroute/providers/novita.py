"""Novita: OpenAI-compatible routes under `/v3/openai` (there is no `/v1`). Its interleaved-thinking
guide has clients send a reasoning model's earlier `reasoning_content` back in its assistant messages
between tool calls, so reasoning it made comes back to it there (`replays_reasoning`).

Videos: `/v3/hf/{model}` takes `{prompt, ...parameters}` and answers `video.video_url`, downloaded;
when it answers an asynchronous `task_id` instead, `/v3/async/task-result?task_id=` is polled until
`TASK_STATUS_SUCCEED` (its `videos[0].video_url`) or `TASK_STATUS_FAILED`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider, Target
from hubroute.providers._media import failed, get, negative_text, post_json, renamed
from hubroute.providers.steps import Next, Step, TaskCall, dig, download
from hubroute.task_names import TEXT_TO_VIDEO

RESULT_ROUTE = "/v3/async/task-result?task_id={id}"


class Novita(Provider):
    name = "novita"
    base_url = "https://api.novita.ai"
    env_keys = ("NOVITA_API_KEY",)
    replays_reasoning = "reasoning_content"
    routes = {
        CHAT: "/v3/openai/chat/completions",
        TEXT_GENERATION: "/v3/openai/completions",
        TEXT_TO_VIDEO: "/v3/hf/{model}",
    }

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task == TEXT_TO_VIDEO:
            body = {"prompt": call.inputs, **renamed(negative_text(call.parameters), {})}
            return Next(post_json(self, target, self.url(TEXT_TO_VIDEO, target), body), self._video(target))
        return super().start_task(call, target)

    def _video(self, target: Target) -> Any:
        def parse(answer: Any) -> Step:
            video = answer.get("video") if isinstance(answer, dict) else None
            if isinstance(video, dict) and "video_url" in video:
                return download(video["video_url"], self.name, "video")
            task = answer.get("task") if isinstance(answer, dict) else None
            task_id = answer.get("task_id") if isinstance(answer, dict) else None
            if isinstance(task, dict):
                task_id = task.get("task_id", task_id)
                status = task.get("status")
                if status == "TASK_STATUS_SUCCEED":
                    return download(dig(self.name, answer, "videos", 0, "video_url"), self.name, "video")
                if status == "TASK_STATUS_FAILED":
                    raise failed(self.name, "video generation", answer, task.get("reason"))
            if not isinstance(task_id, str) or not task_id:
                raise failed(self.name, "video generation", answer, "no video.video_url nor task_id in its answer")
            poll_url = target.endpoint.base_url.rstrip("/") + RESULT_ROUTE.format(id=quote(task_id, safe=""))
            return Next(get(self, target, poll_url), parse, poll=True)

        return parse
