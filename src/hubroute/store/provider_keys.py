"""Provider keys that users and organisations bring (BYOK), stored sealed (`store.sealing`).

    keys = ProviderKeys(accounts, sealer)
    await keys.put(("org", org_id), "groq", "gsk_...")
    await keys.of(("user", user_id))          # {"groq": "gsk_..."}: opened, for the request path
    await keys.listing(("org", org_id))       # what the admin API shows: provider, last characters, when

Without a sealer (no `accounts.encryption_key`), keys can be neither stored nor used; a router whose
store holds sealed keys refuses to start without one (`ensure_openable`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hubroute.errors import ConfigError, InvalidRequest, NotFound
from hubroute.store.accounts import Accounts, iso, now
from hubroute.store.schema import provider_keys
from hubroute.store.sealing import Sealer, SealError

Account = tuple[str, str]


class ProviderKeys:
    def __init__(self, accounts: Accounts, sealer: Sealer | None) -> None:
        self.accounts = accounts
        self.sealer = sealer

    @staticmethod
    def _owner(account: Account) -> Any:
        column = provider_keys.c.user_id if account[0] == "user" else provider_keys.c.org_id
        return column == account[1]

    async def put(self, account: Account, provider: str, key: str) -> dict[str, Any]:
        """Store (or replace) `account`'s key for `provider`."""
        if self.sealer is None:
            raise InvalidRequest("this router has no accounts.encryption_key (or HUBROUTE_ENCRYPTION_KEY): "
                                 "provider keys cannot be stored", param="key")
        key = key.strip()
        if not key or len(key) > 4096 or not key.isprintable():
            raise InvalidRequest("'key': a provider key of 1 to 4096 printable characters", param="key")
        created = now()
        values = {"provider": provider, "sealed": self.sealer.seal(key), "last4": key[-4:], "created_at": created,
                  "user_id": account[1] if account[0] == "user" else None,
                  "org_id": account[1] if account[0] == "org" else None}
        async with self.accounts.transaction() as conn:
            await conn.execute(provider_keys.delete().where(self._owner(account) &
                                                            (provider_keys.c.provider == provider)))
            await conn.execute(provider_keys.insert().values(values))
        return {"provider": provider, "last4": key[-4:], "created_at": iso(created)}

    async def delete(self, account: Account, provider: str) -> None:
        async with self.accounts.transaction() as conn:
            done = await conn.execute(provider_keys.delete().where(self._owner(account) &
                                                                   (provider_keys.c.provider == provider)))
        if not done.rowcount:
            raise NotFound(f"no key for provider '{provider}'")

    async def listing(self, account: Account) -> list[dict[str, Any]]:
        async with self.accounts.transaction() as conn:
            rows = await conn.execute(sa.select(provider_keys.c.provider, provider_keys.c.last4,
                                                provider_keys.c.created_at)
                                      .where(self._owner(account)).order_by(provider_keys.c.provider))
            return [{"provider": r.provider, "last4": r.last4, "created_at": iso(r.created_at)} for r in rows]

    async def of(self, account: Account) -> dict[str, str]:
        """`account`'s keys, opened: provider -> key (none without a sealer)."""
        if self.sealer is None:
            return {}
        async with self.accounts.transaction() as conn:
            rows = await conn.execute(sa.select(provider_keys.c.provider, provider_keys.c.sealed)
                                      .where(self._owner(account)))
            sealed = [(r.provider, r.sealed) for r in rows]
        return {provider: self.sealer.open(token) for provider, token in sealed}

    async def ensure_openable(self) -> None:
        """Refuse (ConfigError) a store that holds sealed keys this router cannot open: no secret, or
        another one than sealed them."""
        async with self.accounts.transaction() as conn:
            sample = (await conn.execute(sa.select(provider_keys.c.sealed).limit(1))).first()
        if sample is None:
            return
        if self.sealer is None:
            raise ConfigError("accounts.encryption_key", "the store holds provider keys of users or organisations, "
                              "sealed with a secret this router was not given: set accounts.encryption_key (or "
                              "HUBROUTE_ENCRYPTION_KEY) to it")
        try:
            self.sealer.open(sample[0])
        except SealError:
            raise ConfigError("accounts.encryption_key", "the store's provider keys were sealed with another "
                              "secret than this one") from None
