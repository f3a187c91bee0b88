"""Groq. Its OpenAI-compatibility page lists `logprobs`, `logit_bias` and `top_logprobs` as fields that
fail with a 400, so they are dropped; reasoning models answer in `reasoning`, as hubroute does."""

from hubroute.providers._base import CHAT, Provider


class Groq(Provider):
    name = "groq"
    base_url = "https://api.groq.com"
    env_keys = ("GROQ_API_KEY",)
    routes = {CHAT: "/openai/v1/chat/completions"}
    unsupported_params = frozenset({"logprobs", "logit_bias", "top_logprobs"})
