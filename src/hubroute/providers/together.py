"""Together AI. A JSON schema is sent flat (`{type: json_schema, schema}`); reasoning models answer in
`reasoning`, as hubroute does."""

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Provider


class Together(Provider):
    name = "together"
    base_url = "https://api.together.xyz"
    env_keys = ("TOGETHER_API_KEY",)
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions", EMBEDDINGS: "/v1/embeddings"}
    json_schema_mode = "flat_schema"
