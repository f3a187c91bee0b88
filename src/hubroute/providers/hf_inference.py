"""Hugging Face's own serverless inference (TGI behind it for chat). Reachable only through HF's router:
no direct base URL, the model id is part of the path, and a JSON schema is sent as TGI's grammar."""

from hubroute.providers._base import CHAT, Provider


class HFInference(Provider):
    name = "hf-inference"
    base_url = None
    routes = {CHAT: "/models/{model}/v1/chat/completions"}
    json_schema_mode = "json_object_with_value"
