"""Together AI. A JSON schema is sent flat (`{type: json_schema, schema}`); reasoning models answer in
`reasoning`, as hubroute does.

Media: images (text-to-image, and image-to-image with the image inline as a data URI) from
`/v1/images/generations` as base64 in JSON; speech from `/v1/audio/speech` as raw audio; videos from
`/v2/videos`, a job polled at `/v2/videos/{id}` until `completed`, its `outputs.video_url` then
downloaded. `num_inference_steps` is Together's `steps`."""

from __future__ import annotations

from typing import Any

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider, Target
from hubroute.providers._media import (
    SPEECH_OPTIONS,
    b64_media,
    failed,
    flat_size,
    get,
    negative_text,
    not_json,
    openai_options,
    post_json,
    renamed,
)
from hubroute.providers.steps import Next, Step, TaskCall, data_uri, download
from hubroute.task_names import IMAGE_TO_IMAGE, IMAGE_TO_VIDEO, TEXT_TO_IMAGE, TEXT_TO_SPEECH, TEXT_TO_VIDEO

_STEPS = {"num_inference_steps": "steps"}
#: a video job still running
_PENDING = frozenset({"queued", "in_progress", None})


class Together(Provider):
    name = "together"
    base_url = "https://api.together.xyz"
    env_keys = ("TOGETHER_API_KEY",)
    routes = {
        CHAT: "/v1/chat/completions",
        TEXT_GENERATION: "/v1/completions",
        EMBEDDINGS: "/v1/embeddings",
        TEXT_TO_IMAGE: "/v1/images/generations",
        IMAGE_TO_IMAGE: "/v1/images/generations",
        TEXT_TO_SPEECH: "/v1/audio/speech",
        TEXT_TO_VIDEO: "/v2/videos",
        IMAGE_TO_VIDEO: "/v2/videos",
    }
    json_schema_mode = "flat_schema"

    def start_task(self, call: TaskCall, target: Target) -> Next:
        task, params = call.task, call.parameters
        url = self.url(task, target)
        if task == TEXT_TO_IMAGE:
            body = {"prompt": call.inputs, "response_format": "base64", **renamed(params, _STEPS)}
            return Next(post_json(self, target, url, {**body, "model": target.provider_model}), self._image)
        if task == IMAGE_TO_IMAGE:
            rest = renamed(flat_size(params), _STEPS)
            body = {"prompt": rest.pop("prompt", ""), **self._image_field(call, target), "response_format": "base64",
                    **rest, "model": target.provider_model}
            return Next(post_json(self, target, url, body), self._image)
        if task == TEXT_TO_SPEECH:
            # HF's generation parameters (sampling) mean nothing to a speech model: only the text goes
            body = {"input": call.inputs, "model": target.provider_model,
                    **openai_options(call.extra, SPEECH_OPTIONS)}
            return Next(post_json(self, target, url, body), not_json(self.name, "audio"))
        if task == TEXT_TO_VIDEO:
            body = {"prompt": call.inputs, "model": target.provider_model,
                    **renamed(negative_text(params), _STEPS)}
            return Next(post_json(self, target, url, body), self._video_job(target, url))
        if task == IMAGE_TO_VIDEO:
            frames = [{"input_image": data_uri(call.inputs), "frame": "first"}]
            body = {"model": target.provider_model, "frame_images": frames, **renamed(flat_size(params), _STEPS)}
            return Next(post_json(self, target, url, body), self._video_job(target, url))
        return super().start_task(call, target)

    @staticmethod
    def _image_field(call: TaskCall, target: Target) -> dict[str, Any]:
        """FLUX.1 Kontext models take the image as `image_url`; every other model as `reference_images`."""
        image = data_uri(call.inputs)
        model = target.provider_model.lower()
        if "kontext" in model and "flux.1" in model:
            return {"image_url": image}
        return {"reference_images": [image]}

    def _image(self, answer: Any) -> Step:
        return b64_media(self.name, answer, "data", 0, "b64_json")

    def _video_job(self, target: Target, submit_url: str) -> Any:
        def parse(answer: Any) -> Step:
            if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
                raise failed(self.name, "video job", answer, "no job id in its answer")
            status = answer.get("status")
            if status in _PENDING:
                return Next(get(self, target, f"{submit_url}/{answer['id']}"), parse, poll=True)
            if status == "completed":
                outputs = answer.get("outputs")
                return download(outputs.get("video_url") if isinstance(outputs, dict) else None, self.name, "video")
            error = answer.get("error")
            detail = error.get("message") if isinstance(error, dict) else error
            raise failed(self.name, f"video job ({status})", answer, detail)

        return parse
