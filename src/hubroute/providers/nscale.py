"""Nscale. Images come from its OpenAI-style `/v1/images/generations` as base64 (`b64_json`); width and
height go as `size: "WxH"`, and `num_inference_steps`, which it has no field for, is not sent.
Embeddings at its OpenAI-style `/v1/embeddings`."""

from __future__ import annotations

from typing import Any

from hubroute.providers._base import CHAT, EMBEDDINGS, Provider, Target
from hubroute.providers._media import b64_media, post_json, renamed
from hubroute.providers.steps import Next, Step, TaskCall
from hubroute.task_names import TEXT_TO_IMAGE


class Nscale(Provider):
    name = "nscale"
    base_url = "https://inference.api.nscale.com"
    env_keys = ("NSCALE_API_KEY", "NSCALE_SERVICE_TOKEN")
    routes = {CHAT: "/v1/chat/completions", TEXT_TO_IMAGE: "/v1/images/generations", EMBEDDINGS: "/v1/embeddings"}

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task == TEXT_TO_IMAGE:
            params = renamed(call.parameters, {"num_inference_steps": None})
            if "width" in params and "height" in params:
                params["size"] = f"{params.pop('width')}x{params.pop('height')}"
            body = {"response_format": "b64_json", "prompt": call.inputs, "model": target.provider_model, **params}
            return Next(post_json(self, target, self.url(TEXT_TO_IMAGE, target), body), self._image)
        return super().start_task(call, target)

    def _image(self, answer: Any) -> Step:
        return b64_media(self.name, answer, "data", 0, "b64_json")
