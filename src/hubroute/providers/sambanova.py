"""SambaNova Cloud: sold directly, no longer routed by Hugging Face. Parameters it does not implement
(`presence_penalty`, `frequency_penalty`, `logit_bias`) are ignored by it, not rejected."""

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider


class SambaNova(Provider):
    name = "sambanova"
    base_url = "https://api.sambanova.ai"
    env_keys = ("SAMBANOVA_API_KEY",)
    hf_routed = False
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions", EMBEDDINGS: "/v1/embeddings"}
