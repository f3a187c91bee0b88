"""What a stored key may reach, applied to a request's plan before any provider is called.

- `models`: shell-style patterns (`meta-llama/*`, `*-Instruct`, `openai/gpt-oss-120b:groq`, an alias),
  matched without regard to case against the name the client sent and the model it resolved to; a
  request for any other model is a 403 `model_not_allowed`.
- `providers`: the providers the key may use; the plan keeps only those (failover included), and a
  plan left with none is a 403 `provider_not_allowed`.

(API surfaces are checked with the key itself, in the app: a route's label against the key's list.)
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from hubroute.errors import PermissionDenied

if TYPE_CHECKING:
    from hubroute.routing.router import Plan
    from hubroute.server.auth import Principal


@lru_cache(maxsize=4096)
def _patterns(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or "(?!)", re.IGNORECASE)


def model_allowed(patterns: tuple[str, ...], *names: str) -> bool:
    """Whether one of `names` matches one of `patterns`."""
    regex = _patterns(patterns)
    return any(regex.match(name) for name in names)


def admit(principal: Principal, plan: Plan) -> None:
    """Narrow `plan` to what `principal` may reach, or refuse it (PermissionDenied)."""
    if principal.models is not None and not model_allowed(principal.models, plan.requested, plan.model):
        raise PermissionDenied(f"this key may not use the model '{plan.requested}' (allowed: "
                               f"{', '.join(principal.models) or 'none'})", code="model_not_allowed", param="model")
    if principal.providers is not None:
        allowed = set(principal.providers)
        kept = [t for t in plan.targets if t.name in allowed]
        if plan.targets and not kept:
            offered = ", ".join(dict.fromkeys(t.name for t in plan.targets))
            raise PermissionDenied(f"this key may not use the providers serving '{plan.requested}' ({offered}); "
                                   f"it may use: {', '.join(principal.providers) or 'none'}",
                                   code="provider_not_allowed", param="model")
        plan.targets[:] = kept


def admit_native(principal: Principal, provider: str, names: tuple[str, ...]) -> None:
    """The same for a provider-native request (the passthrough): its provider, and the model its body
    names (`names`: the provider's id and, when the catalog maps it, the Hub id)."""
    if principal.providers is not None and provider not in principal.providers:
        raise PermissionDenied(f"this key may not use the provider '{provider}' (it may use: "
                               f"{', '.join(principal.providers) or 'none'})", code="provider_not_allowed")
    if principal.models is not None and not model_allowed(principal.models, *names):
        named = f"the model '{names[0]}'" if names else "a request that names no model"
        raise PermissionDenied(f"this key may not use {named} (allowed: {', '.join(principal.models) or 'none'})",
                               code="model_not_allowed", param="model")
