"""DeepInfra: OpenAI-compatible routes live under `/v1/openai`."""

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider


class DeepInfra(Provider):
    name = "deepinfra"
    base_url = "https://api.deepinfra.com"
    env_keys = ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN")
    routes = {
        CHAT: "/v1/openai/chat/completions",
        TEXT_GENERATION: "/v1/openai/completions",
        EMBEDDINGS: "/v1/openai/embeddings",
    }
