"""Sealing the provider keys users and organisations bring."""

from __future__ import annotations

import base64

import pytest

from hubroute.store.sealing import Sealer, SealError

SECRET = "a-long-random-sealing-secret"


def test_a_sealed_key_opens_with_its_secret_only() -> None:
    sealer = Sealer(SECRET)
    token = sealer.seal("gsk_live_1234")
    assert token.startswith("v1:") and "gsk_live_1234" not in token
    assert sealer.seal("gsk_live_1234") != token  # a fresh nonce each time
    assert sealer.open(token) == "gsk_live_1234"
    with pytest.raises(SealError, match="cannot be opened"):
        Sealer("another-secret-entirely").open(token)


def test_a_tampered_or_foreign_token_is_refused() -> None:
    sealer = Sealer(SECRET)
    token = sealer.seal("gsk_live_1234")
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[len(raw) // 2] ^= 0x01  # one bit of the ciphertext
    flipped = "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    for bad in (flipped, "v2:" + token[3:], "plain-text-key", "v1:"):
        with pytest.raises(SealError):
            sealer.open(bad)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        Sealer("short")
