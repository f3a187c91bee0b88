"""OpenAI itself: direct only (Hugging Face's router does not serve it), with the caller's own key. It
speaks the Responses API itself: `/v1/responses` requests that need none of the router's own state
go to it as they came (`responses_route`), its reasoning and hosted tools included."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class OpenAI(Provider):
    name = "openai"
    base_url = "https://api.openai.com"
    env_keys = ("OPENAI_API_KEY",)
    hf_routed = False
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions"}
    responses_route = "/v1/responses"
