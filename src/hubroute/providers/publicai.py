from hubroute.providers._base import CHAT, Provider


class PublicAI(Provider):
    name = "publicai"
    base_url = "https://api.publicai.co"
    env_keys = ("PUBLICAI_API_KEY",)
    routes = {CHAT: "/v1/chat/completions"}
