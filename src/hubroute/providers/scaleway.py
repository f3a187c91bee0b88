"""Scaleway Generative APIs."""

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider


class Scaleway(Provider):
    name = "scaleway"
    base_url = "https://api.scaleway.ai"
    env_keys = ("SCW_SECRET_KEY",)
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions", EMBEDDINGS: "/v1/embeddings"}
