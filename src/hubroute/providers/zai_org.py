"""Z.ai (GLM models). Requests from Hugging Face's integration identify their channel and ask for English;
the API offers JSON mode (`json_object`) but no JSON-schema mode. GLM reasoning models answer in
`reasoning_content`, renamed to the `reasoning` field Hugging Face's clients read."""

from hubroute.providers._base import CHAT, Provider


class ZaiOrg(Provider):
    name = "zai-org"
    base_url = "https://api.z.ai"
    env_keys = ("ZAI_API_KEY",)
    routes = {CHAT: "/api/paas/v4/chat/completions"}
    extra_headers = {"x-source-channel": "hugging_face", "accept-language": "en-US,en"}
    json_schema_mode = "json_object"
    reasoning_key = "reasoning_content"
