"""The provider registry: an explicit dict from Hugging Face's provider name to its adapter.

Adding a provider is one small module and one line here. Nothing outside this package branches on
a provider's name.
"""

from __future__ import annotations

from hubroute.providers._base import CHAT, EMBEDDINGS, TEXT_GENERATION, Endpoint, HttpRequest, Provider, Target
from hubroute.providers._openai_compat import OpenAICompatible
from hubroute.providers.baseten import Baseten
from hubroute.providers.black_forest_labs import BlackForestLabs
from hubroute.providers.cerebras import Cerebras
from hubroute.providers.cohere import Cohere
from hubroute.providers.deepinfra import DeepInfra
from hubroute.providers.fal_ai import FalAI
from hubroute.providers.featherless_ai import FeatherlessAI
from hubroute.providers.fireworks_ai import FireworksAI
from hubroute.providers.groq import Groq
from hubroute.providers.hf_inference import HFInference
from hubroute.providers.hyperbolic import Hyperbolic
from hubroute.providers.nebius import Nebius
from hubroute.providers.novita import Novita
from hubroute.providers.nscale import Nscale
from hubroute.providers.openai import OpenAI
from hubroute.providers.ovhcloud import OVHcloud
from hubroute.providers.publicai import PublicAI
from hubroute.providers.replicate import Replicate
from hubroute.providers.sambanova import SambaNova
from hubroute.providers.scaleway import Scaleway
from hubroute.providers.together import Together
from hubroute.providers.wavespeed import WaveSpeed
from hubroute.providers.zai_org import ZaiOrg

REGISTRY: dict[str, Provider] = {
    p.name: p
    for p in (
        Baseten(),
        BlackForestLabs(),
        Cerebras(),
        Cohere(),
        DeepInfra(),
        FalAI(),
        FeatherlessAI(),
        FireworksAI(),
        Groq(),
        HFInference(),
        Hyperbolic(),
        Nebius(),
        Novita(),
        Nscale(),
        OpenAI(),
        OVHcloud(),
        PublicAI(),
        Replicate(),
        SambaNova(),
        Scaleway(),
        Together(),
        WaveSpeed(),
        ZaiOrg(),
    )
}

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "REGISTRY",
    "TEXT_GENERATION",
    "Endpoint",
    "HttpRequest",
    "OpenAICompatible",
    "Provider",
    "Target",
]
