from hubroute.providers._base import CHAT, Provider


class Nscale(Provider):
    name = "nscale"
    base_url = "https://inference.api.nscale.com"
    env_keys = ("NSCALE_API_KEY", "NSCALE_SERVICE_TOKEN")
    routes = {CHAT: "/v1/chat/completions"}
