"""OVHcloud AI Endpoints."""

from hubroute.providers._base import CHAT, TEXT_GENERATION, Provider


class OVHcloud(Provider):
    name = "ovhcloud"
    base_url = "https://oai.endpoints.kepler.ai.cloud.ovh.net"
    env_keys = ("OVHCLOUD_API_KEY", "OVH_AI_ENDPOINTS_ACCESS_TOKEN")
    routes = {CHAT: "/v1/chat/completions", TEXT_GENERATION: "/v1/completions"}
