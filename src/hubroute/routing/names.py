"""Model names as clients write them.

    org/model                 the router picks (default policy, `:fastest` unless configured)
    org/model:<provider>      pinned to one provider, no failover to others
    org/model:fastest         highest measured throughput
    org/model:cheapest        lowest output price
    org/model:preferred       the configured provider order
    <alias>                   from the config (`aliases:` or LiteLLM `model_list`)
"""

from __future__ import annotations

from dataclasses import dataclass

from hubroute.config import POLICIES
from hubroute.errors import InvalidRequest


@dataclass(slots=True, frozen=True)
class ModelName:
    model: str
    provider: str | None = None
    policy: str | None = None

    def __str__(self) -> str:
        suffix = self.provider or self.policy
        return f"{self.model}:{suffix}" if suffix else self.model


def parse_model_name(name: str, known_providers: set[str] | frozenset[str]) -> ModelName:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("'model' must be a non-empty string", param="model")
    name = name.strip()
    base, sep, suffix = name.rpartition(":")
    # "http://host:port/..." and ids without a suffix have no selector
    if not sep or "/" in suffix or not base:
        return ModelName(name)
    if suffix in POLICIES:
        return ModelName(base, policy=suffix)
    if suffix in known_providers:
        return ModelName(base, provider=suffix)
    if suffix == "auto":
        return ModelName(base)
    raise InvalidRequest(
        f"Unknown provider or policy ':{suffix}' in model '{name}'. Use a provider name "
        f"or one of :{', :'.join(POLICIES)}",
        param="model",
        code="invalid_model_suffix",
    )
