"""Bring your own key: a request of a stored key reaches a provider with its user's own key for that
provider, else its organisation's, else the server's key, else the HF token.

    keys = await own.for_request(principal, billed_org)     # provider -> key (user's over organisation's)
    byok = use_own_keys(plan.targets, keys)                 # the targets rewritten; which ones use them

A provider called with the caller's own key is called directly at its public API (never through
Hugging Face's router, which would bill the server's HF token). The request is metered as any other
and counted in the budgets that include such requests, never charged to credits.

Keys are read from the store and kept: past `ttl` seconds, read again behind the requests that use
them, and kept while the store cannot be reached (`server.recent`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from hubroute.errors import register_secret
from hubroute.server.recent import Recent

if TYPE_CHECKING:
    from collections.abc import Callable

    from hubroute.providers import Endpoint, Target
    from hubroute.server.auth import Principal
    from hubroute.store.provider_keys import ProviderKeys

Account = tuple[str, str]


class OwnKeys:
    def __init__(self, store: ProviderKeys, ttl: float = 1.0) -> None:
        self.store = store
        #: account -> its keys, read behind the requests that use them (`server.recent`)
        self._keys: Recent[Account, dict[str, str]] = Recent(store.of, ttl=ttl)

    async def for_request(self, principal: Principal, billed_org: str | None) -> dict[str, str]:
        """The keys a request may use: the organisation's it bills (or owns it), then its user's over them
        (a dict not to be changed: it may be the one kept here)."""
        org, user = _accounts(principal, billed_org)
        return _merged(await self._keys.get(org) if org else _NONE, await self._keys.get(user) if user else _NONE)

    def known(self, principal: Principal, billed_org: str | None) -> dict[str, str] | None:
        """`for_request` without waiting, when both accounts' keys were read before (None otherwise)."""
        org, user = _accounts(principal, billed_org)
        org_keys = self._keys.known(org, None) if org else _NONE
        user_keys = self._keys.known(user, None) if user else _NONE
        return None if org_keys is None or user_keys is None else _merged(org_keys, user_keys)

    def forget(self) -> None:
        self._keys.clear()


_NONE: dict[str, str] = {}


def _accounts(principal: Principal, billed_org: str | None) -> tuple[Account | None, Account | None]:
    """Whose keys a request may use: the organisation it bills (or that owns its key), its user."""
    org = billed_org or principal.org
    return ("org", org) if org is not None else None, ("user", principal.user) if principal.user is not None else None


def _merged(org_keys: dict[str, str], user_keys: dict[str, str]) -> dict[str, str]:
    return {**org_keys, **user_keys} if org_keys and user_keys else user_keys or org_keys


def own_endpoint(endpoint: Endpoint, key: str, base_url: str | None) -> Endpoint | None:
    """`endpoint` with the caller's key, at the provider's own API `base_url` (None: it has none)."""
    if base_url is None:
        return None
    register_secret(key)  # scrubbed from logs and errors like the server's own keys
    return dataclasses.replace(endpoint, base_url=base_url, api_key=key, via_hf=False)


def use_own_keys(targets: list[Target], keys: dict[str, str], base_of: Callable[[str], str | None]) -> list[bool]:
    """Rewrite (in place) the targets of providers the caller has a key for; which ones were.
    `base_of(provider)`: where it is called directly."""
    flags = []
    for i, target in enumerate(targets):
        key = keys.get(target.name)
        endpoint = own_endpoint(target.endpoint, key, base_of(target.name)) if key else None
        if endpoint is not None:
            targets[i] = dataclasses.replace(target, endpoint=endpoint)
        flags.append(endpoint is not None)
    return flags
