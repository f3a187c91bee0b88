from hubroute.providers._base import CHAT, Provider


class Groq(Provider):
    name = "groq"
    base_url = "https://api.groq.com"
    env_keys = ("GROQ_API_KEY",)
    routes = {CHAT: "/openai/v1/chat/completions"}
