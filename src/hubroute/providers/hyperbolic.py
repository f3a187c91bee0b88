"""Hyperbolic: sold directly, no longer routed by Hugging Face. Streams carry `usage` on every chunk."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class Hyperbolic(Provider):
    name = "hyperbolic"
    base_url = "https://api.hyperbolic.xyz"
    env_keys = ("HYPERBOLIC_API_KEY",)
    hf_routed = False
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions"}
