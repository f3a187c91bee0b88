from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class FeatherlessAI(Provider):
    name = "featherless-ai"
    base_url = "https://api.featherless.ai"
    env_keys = ("FEATHERLESS_API_KEY",)
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions"}
