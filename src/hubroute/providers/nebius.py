"""Nebius AI Studio: sold directly, no longer routed by Hugging Face."""

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider


class Nebius(Provider):
    name = "nebius"
    base_url = "https://api.studio.nebius.ai"
    env_keys = ("NEBIUS_API_KEY",)
    hf_routed = False
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions", EMBEDDINGS: "/v1/embeddings"}
