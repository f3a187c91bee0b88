"""Provider keys that users and organisations bring, encrypted at rest with the server's secret
(`accounts.encryption_key`, or `$HUBROUTE_ENCRYPTION_KEY`).

    sealer = Sealer(secret)
    token = sealer.seal("gsk_...")      # "v1:<base64url(nonce | AES-256-GCM ciphertext and tag)>"
    sealer.open(token)                  # "gsk_..."; SealError for a token sealed with another secret

The AES key is derived from the secret with HKDF-SHA256, so any long random string serves as the
secret. GCM authenticates: a token altered, or opened with another secret, is refused, never
decrypted into garbage. The version prefix leaves room for another scheme (or a rotated secret).
"""

from __future__ import annotations

import base64
import os

VERSION = "v1"
#: at least this many characters of secret (a shorter one is refused at start)
MIN_SECRET = 16


class SealError(Exception):
    """A token that cannot be opened with this secret."""


class Sealer:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"the encryption key must be at least {MIN_SECRET} characters")
        # (imported here: a deployment without a secret never loads the library, about 6 MB)
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hubroute provider keys",
                   info=VERSION.encode()).derive(secret.encode())
        self._aead = AESGCM(key)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), VERSION.encode())
        return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str) -> str:
        from cryptography.exceptions import InvalidTag

        version, _, body = token.partition(":")
        if version != VERSION or not body:
            raise SealError(f"not a sealed key of this hubroute ({version or 'no version'})")
        try:
            raw = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(raw[:12], raw[12:], VERSION.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealError("cannot be opened with this accounts.encryption_key") from exc
