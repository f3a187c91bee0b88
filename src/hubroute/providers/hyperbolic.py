"""Hyperbolic: sold directly, no longer routed by Hugging Face. Streams carry `usage` on every chunk.

Images: `/v1/images/generations` takes the model as `model_name`, `steps` and `cfg_scale`, and needs a
width and a height (512 when not given); it answers `images[0].image` in base64."""

from __future__ import annotations

from typing import Any

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider, Target
from hubroute.providers._media import b64_media, post_json, renamed
from hubroute.providers.steps import Next, Step, TaskCall
from hubroute.task_names import TEXT_TO_IMAGE

_PARAMETERS = {"num_inference_steps": "steps", "guidance_scale": "cfg_scale"}


class Hyperbolic(Provider):
    name = "hyperbolic"
    base_url = "https://api.hyperbolic.xyz"
    env_keys = ("HYPERBOLIC_API_KEY",)
    hf_routed = False
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions", TEXT_TO_IMAGE: "/v1/images/generations"}

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task == TEXT_TO_IMAGE:
            params = {"width": 512, "height": 512, **renamed(call.parameters, _PARAMETERS)}
            body = {"prompt": call.inputs, "model_name": target.provider_model, **params}
            return Next(post_json(self, target, self.url(TEXT_TO_IMAGE, target), body), self._image)
        return super().start_task(call, target)

    def _image(self, answer: Any) -> Step:
        return b64_media(self.name, answer, "images", 0, "image")
