"""Cohere, through its OpenAI Compatibility API. A JSON schema goes inside `json_object` mode."""

from hubroute.providers._base import CHAT, Provider


class Cohere(Provider):
    name = "cohere"
    base_url = "https://api.cohere.com"
    env_keys = ("COHERE_API_KEY", "CO_API_KEY")
    routes = {CHAT: "/compatibility/v1/chat/completions"}
    json_schema_mode = "json_object_with_schema"
