"""Fireworks AI: routes under `/inference`. Its structured-output docs accept OpenAI's `json_schema`
response format as is (and recommend it), so no rewrite is needed."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class FireworksAI(Provider):
    name = "fireworks-ai"
    base_url = "https://api.fireworks.ai"
    env_keys = ("FIREWORKS_API_KEY",)
    routes = {CHAT: "/inference/v1/chat/completions", TEXT_GENERATION: "/inference/v1/completions"}
