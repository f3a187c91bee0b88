"""The provider registry: an explicit dict from Hugging Face's provider name to its adapter.

Adding a provider is one small module and one line here. Nothing outside this package branches on
a provider's name.
"""

from __future__ import annotations

from hubroute.providers._base import CHAT, TEXT_GENERATION, Endpoint, HttpRequest, Provider, Target
from hubroute.providers._openai_compat import OpenAICompatible
from hubroute.providers.groq import Groq
from hubroute.providers.together import Together

REGISTRY: dict[str, Provider] = {
    p.name: p
    for p in (
        Groq(),
        Together(),
    )
}

__all__ = [
    "CHAT",
    "REGISTRY",
    "TEXT_GENERATION",
    "Endpoint",
    "HttpRequest",
    "OpenAICompatible",
    "Provider",
    "Target",
]
