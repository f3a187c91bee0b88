"""OpenAI itself: direct only (Hugging Face's router does not serve it), with the caller's own key."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class OpenAI(Provider):
    name = "openai"
    base_url = "https://api.openai.com"
    env_keys = ("OPENAI_API_KEY",)
    hf_routed = False
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions"}
