"""Baseten Model APIs (OpenAI-compatible). Its API reference names `Api-Key` as the scheme of direct keys
(federated keys sent as Bearer are rejected); through Hugging Face the HF token is Bearer as usual."""

from hubroute.providers._base import CHAT, Provider


class Baseten(Provider):
    name = "baseten"
    base_url = "https://inference.baseten.co"
    env_keys = ("BASETEN_API_KEY",)
    routes = {CHAT: "/v1/chat/completions"}
    auth_scheme = "Api-Key"
