"""Who is calling. An `Authenticator` turns a request's headers into a `Principal`, or raises AuthError.

The key is read from `Authorization: Bearer <key>` (OpenAI's and Hugging Face's clients) or
`x-api-key: <key>` (Anthropic's). `MasterKeyAuth` knows one key, the configured master key; with
none configured it lets everyone in as the anonymous principal (the CLI refuses to listen beyond
loopback that way unless told to). `StoredKeyAuth` adds the keys of the store (`store.keys`).

The master key is compared as a SHA-256 digest in constant time, so neither its length nor its
prefix leaks through timing, and only the digest is kept in memory.

Stored keys are looked up by the id they carry and kept in memory: a look-up younger than
`fresh` seconds is used as it is, an older one is used while it is refreshed in the background, and
one older than `ttl` (1 s) is refreshed before use, so a key revoked anywhere (another router on
the same database included) is refused within `ttl`, and a hot key costs the database one query
every `fresh` seconds, not one per request. While the database cannot be reached, keys already
known keep working (one log line says so, one more when it is back) and unknown ones get 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from hubroute.errors import AuthError, PermissionDenied, Unavailable
from hubroute.store import keys, reason

if TYPE_CHECKING:
    from hubroute.store.accounts import Accounts, KeyRecord

log = logging.getLogger("hubroute.auth")

Headers = Mapping[bytes, bytes]


@dataclass(slots=True, frozen=True)
class Principal:
    """The caller a request is made and billed for."""

    #: the key's id (never the key itself); "master" for the master key, None when anonymous
    key_id: str | None = None
    #: the user who owns the key (its id), or the organisation that does (a service key)
    user: str | None = None
    org: str | None = None
    #: what the key may do ("admin": the admin API; "inference": the model routes)
    scopes: frozenset[str] = frozenset()
    #: the key's limits (rpm, tpm, concurrency), as stored with it, and those of its user and organisation
    limits: Mapping[str, Any] = field(default_factory=dict)
    user_limits: Mapping[str, Any] = field(default_factory=dict)
    org_limits: Mapping[str, Any] = field(default_factory=dict)
    #: what a stored key may reach (None: anything): model patterns, providers, API surfaces (route labels)
    models: tuple[str, ...] | None = None
    providers: tuple[str, ...] | None = None
    surfaces: tuple[str, ...] | None = None
    #: the organisation billed when the request names none
    bill_to: str | None = None
    budget: Mapping[str, Any] | None = None
    key_name: str = ""
    #: what the modules that check a request work out from the fields above, once for the principal
    #: rather than at each request (each module under keys of its own)
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def anonymous(self) -> bool:
        return self.key_id is None

    @property
    def stored(self) -> bool:
        """A key of the store: its limits always hold, whoever made it."""
        return self.key_id is not None and self.key_id != "master"


ANONYMOUS = Principal(scopes=frozenset({"inference", "admin"}))
MASTER = Principal(key_id="master", scopes=frozenset({"inference", "admin"}))


class Authenticator(Protocol):
    #: no key is configured: every request is the anonymous principal (authenticate need not run)
    open: bool

    async def authenticate(self, headers: Headers) -> Principal: ...


def api_key(headers: Headers) -> bytes | None:
    """The key a request carries: `Authorization: Bearer <key>`, else `x-api-key: <key>`."""
    authorization = headers.get(b"authorization")
    if authorization:
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() == b"bearer":
            return token.strip() or None
    key = headers.get(b"x-api-key")
    return key.strip() or None if key else None


class MasterKeyAuth:
    def __init__(self, master_key: str | None) -> None:
        self._digest = hashlib.sha256(master_key.encode()).digest() if master_key else None

        self.open = self._digest is None

    async def authenticate(self, headers: Headers) -> Principal:
        if self._digest is None:
            return ANONYMOUS
        token = api_key(headers)
        if token is None:
            raise AuthError("Missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')")
        if not hmac.compare_digest(hashlib.sha256(token).digest(), self._digest):
            raise AuthError("Invalid API key")
        return MASTER


class StoredKeyAuth:
    """The master key (if configured) and the store's keys, looked up through a short-lived cache."""

    #: a look-up this young is used without asking the database
    fresh = 0.5
    #: one older than this is refreshed before use: a revoked key is refused within `ttl` seconds
    ttl = 1.0
    #: look-ups kept (unknown ids included, so a flood of made-up keys does not reach the database)
    max_cached = 100_000
    #: seconds a look-up may take before the database counts as unreachable
    read_timeout = 2.0

    def __init__(self, master_key: str | None, accounts: Accounts) -> None:
        self._master = MasterKeyAuth(master_key)
        self.accounts = accounts
        #: without a master key, requests without a key of ours are the anonymous principal
        self.open = False
        self._anonymous_allowed = self._master.open
        #: key id -> (when read, its record, its principal); None for an id the store does not have
        self._cache: dict[str, tuple[float, Known | None]] = {}
        self._refreshing: dict[str, asyncio.Task[Known | None]] = {}
        self._store_down = False

    async def authenticate(self, headers: Headers) -> Principal:
        token = api_key(headers)
        key_id = keys.parse(token) if token is not None else None
        if key_id is None:
            if token is not None and keys.looks_like_ours(token):
                raise AuthError("Invalid API key")
            if self._anonymous_allowed:  # (a client's HF token, sent to every endpoint, is not ours to judge)
                return ANONYMOUS
            return await self._master.authenticate(headers)
        assert token is not None
        cached = self._cache.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < self.fresh:
            known = cached[1]
        else:
            known = await self._known(key_id)
        if known is None or not keys.matches(token, known[0].hash):
            raise AuthError("Invalid API key")
        record, principal = known
        if record.revoked:
            raise AuthError(f"API key {keys.shown(key_id)} has been revoked", code="revoked_api_key")
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            raise AuthError(f"API key {keys.shown(key_id)} expired at {record.expires_at.isoformat()}",
                            code="expired_api_key")
        if record.blocked:
            raise PermissionDenied(f"API key {keys.shown(key_id)} is blocked", code="blocked_api_key")
        return principal

    def forget(self, key_id: str | None = None) -> None:
        """Drop what is known of a key (it was changed here), or of every key (None: an owner was):
        the next request reads it anew."""
        if key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(key_id, None)

    async def _known(self, key_id: str) -> Known | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None:
            age = now - cached[0]
            if age < self.fresh:
                return cached[1]
            if age < self.ttl or self._store_down:  # used now, refreshed for the next request
                self._refresh(key_id)
                return cached[1]
        try:
            return await asyncio.shield(self._refresh(key_id))
        except Unavailable:
            if cached is not None:  # the database is down: a key known before keeps working
                return cached[1]
            raise

    def _refresh(self, key_id: str) -> asyncio.Task[Known | None]:
        task = self._refreshing.get(key_id)
        if task is None:
            task = self._refreshing[key_id] = asyncio.get_running_loop().create_task(self._read(key_id))
            task.add_done_callback(_retrieved)  # a background refresh's failure is logged by _read
        return task

    async def _read(self, key_id: str) -> Known | None:
        try:
            try:
                async with asyncio.timeout(self.read_timeout):
                    record = await self.accounts.key_record(key_id)
            except TimeoutError:
                raise Unavailable(f"no answer within {self.read_timeout:g}s") from None
        except Unavailable as exc:
            if not self._store_down:
                self._store_down = True
                log.error("the store cannot be reached (%s): keys seen before keep working, others get 503 "
                          "until it is back", reason(exc.__cause__ or exc))
            raise
        finally:
            self._refreshing.pop(key_id, None)
        if self._store_down:
            self._store_down = False
            log.warning("the store is reachable again")
        if len(self._cache) >= self.max_cached:
            del self._cache[next(iter(self._cache))]  # the oldest look-up
        known = None if record is None else (record, _principal(record))
        self._cache.pop(key_id, None)
        self._cache[key_id] = (time.monotonic(), known)
        return known


#: a stored key's record, and the principal it makes
Known = tuple["KeyRecord", Principal]


def _retrieved(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _principal(record: KeyRecord) -> Principal:
    scopes = frozenset({"inference", "admin"}) if record.admin else frozenset({"inference"})
    return Principal(key_id=record.id, user=record.user_id, org=record.org_id, scopes=scopes, limits=record.limits,
                     user_limits=record.user_limits, org_limits=record.org_limits,
                     models=record.models, providers=record.providers, surfaces=record.surfaces,
                     bill_to=record.bill_to, budget=record.budget, key_name=record.name)
