"""Novita: OpenAI-compatible routes under `/v3/openai` (there is no `/v1`)."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class Novita(Provider):
    name = "novita"
    base_url = "https://api.novita.ai"
    env_keys = ("NOVITA_API_KEY",)
    routes = {CHAT: "/v3/openai/chat/completions", TEXT_GENERATION: "/v3/openai/completions"}
