"""Who is calling. An `Authenticator` turns a request's headers into a `Principal`, or raises AuthError.

The key is read from `Authorization: Bearer <key>` (OpenAI's and Hugging Face's clients) or
`x-api-key: <key>` (Anthropic's). `MasterKeyAuth` knows one key, the configured master key; with
none configured it lets everyone in as the anonymous principal (the CLI refuses to listen beyond
loopback that way unless told to). Stored per-user keys plug in behind the same call.

The master key is compared as a SHA-256 digest in constant time, so neither its length nor its
prefix leaks through timing, and only the digest is kept in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubroute.errors import AuthError

Headers = Mapping[bytes, bytes]


@dataclass(slots=True, frozen=True)
class Principal:
    """The caller a request is made and billed for."""

    #: the key's id (never the key itself); "master" for the master key, None when anonymous
    key_id: str | None = None
    user: str | None = None
    org: str | None = None
    #: what the key may do ("admin": the admin API; "inference": the model routes)
    scopes: frozenset[str] = frozenset()
    #: the key's limits (rpm, tpm, concurrency, budget), as stored with it
    limits: Mapping[str, Any] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return self.key_id is None


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
