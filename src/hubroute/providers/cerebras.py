"""Cerebras Inference. Its last stream chunk carries `usage` and `time_info` unasked; reasoning models
answer in `reasoning`, the field hubroute uses too;
it rejects OpenAI's platform-only `store` and `service_tier` with a 400."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class Cerebras(Provider):
    name = "cerebras"
    base_url = "https://api.cerebras.ai"
    env_keys = ("CEREBRAS_API_KEY",)
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions"}
    unsupported_params = frozenset({"store", "service_tier"})
