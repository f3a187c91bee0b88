"""Who is calling. The seam per-user keys (a later issue) plug into: an `Authenticator` turns the
Authorization header into a principal name, or raises AuthError.

`MasterKeyAuth` with no key configured lets everyone in (the CLI refuses to listen beyond loopback
that way unless told to). With a key, it compares SHA-256 digests in constant time, so neither the
key's length nor its prefix leaks through timing, and keeps only the digest in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from hubroute.errors import AuthError


class Authenticator(Protocol):
    def authenticate(self, authorization: bytes | None) -> str | None: ...


def bearer_token(authorization: bytes | None) -> bytes | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    token = token.strip()
    return token or None


class MasterKeyAuth:
    def __init__(self, master_key: str | None) -> None:
        self._digest = hashlib.sha256(master_key.encode()).digest() if master_key else None

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def authenticate(self, authorization: bytes | None) -> str | None:
        if self._digest is None:
            return None
        token = bearer_token(authorization)
        if token is None:
            raise AuthError("Missing API key: send 'Authorization: Bearer <key>'")
        if not hmac.compare_digest(hashlib.sha256(token).digest(), self._digest):
            raise AuthError("Invalid API key")
        return "master"
