"""Nebius AI Studio: sold directly, no longer routed by Hugging Face. Images come from its OpenAI-style
`/v1/images/generations` as base64 (`response_format: b64_json`), sized by width and height;
`guidance_scale` has no Nebius twin and is not sent."""

from __future__ import annotations

from typing import Any

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider, Target
from hubroute.providers._media import b64_media, post_json, renamed
from hubroute.providers.steps import Next, Step, TaskCall
from hubroute.task_names import TEXT_TO_IMAGE


class Nebius(Provider):
    name = "nebius"
    base_url = "https://api.studio.nebius.ai"
    env_keys = ("NEBIUS_API_KEY",)
    hf_routed = False
    routes = {
        CHAT: "/v1/chat/completions",
        TEXT_GENERATION: "/v1/completions",
        EMBEDDINGS: "/v1/embeddings",
        TEXT_TO_IMAGE: "/v1/images/generations",
    }

    def start_task(self, call: TaskCall, target: Target) -> Next:
        if call.task == TEXT_TO_IMAGE:
            body = {"prompt": call.inputs, **renamed(call.parameters, {"guidance_scale": None}),
                    "response_format": "b64_json", "model": target.provider_model}
            return Next(post_json(self, target, self.url(TEXT_TO_IMAGE, target), body), self._image)
        return super().start_task(call, target)

    def _image(self, answer: Any) -> Step:
        return b64_media(self.name, answer, "data", 0, "b64_json")
