"""The router's API keys: their format, and what is kept of them (a digest, never the key).

    hf_hr_<id>_<secret>      e.g. hf_hr_k3v9x2m4q7ab_4fZ0...   (6 + 12 + 1 + 32 = 51 characters)

The `hf_` prefix is what Hugging Face's clients look for before they send a token to a router
(huggingface_hub and huggingface.js forward only `hf_` tokens to a custom endpoint), so our keys work
in them unchanged. A real Hugging Face token is `hf_` and 34 letters, without another underscore, so
ours can never be taken for one, nor one for ours: `parse` tells them apart by shape alone.

`<id>` is the key's id (its row's primary key): the visible part, shown in listings and logs as the
key's prefix (`hf_hr_k3v9x2m4q7ab`), and how it is found without scanning. `<secret>` is 32 random
base62 characters (190 bits), so a plain SHA-256 of the whole key is the right thing to store (a slow
password hash protects guessable secrets; these are not), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

PREFIX = "hf_hr_"
ID_ALPHABET = string.ascii_lowercase + string.digits
SECRET_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 12
SECRET_LENGTH = 32
_SHAPE = re.compile(rf"hf_hr_([a-z0-9]{{{ID_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH}}})")
_SHAPE_BYTES = re.compile(_SHAPE.pattern.encode())


def new_id(length: int = ID_LENGTH) -> str:
    """A random id of lowercase letters and digits (62 bits at 12 characters)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


def new_key(key_id: str) -> str:
    """A new key for the key `key_id`; shown once, never stored."""
    return f"{PREFIX}{key_id}_{''.join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))}"


def parse(key: str | bytes) -> str | None:
    """The id of a key of ours, or None for anything else (a real HF token, another router's key)."""
    if isinstance(key, bytes):  # (as a request carries it)
        found = _SHAPE_BYTES.fullmatch(key)
        return found.group(1).decode() if found else None
    match = _SHAPE.fullmatch(key)
    return match.group(1) if match else None


def looks_like_ours(key: str | bytes) -> bool:
    """Whether a token is meant to be one of our keys (its prefix), well-formed or not."""
    return (key.startswith(PREFIX.encode()) if isinstance(key, bytes) else key.startswith(PREFIX))


def digest(key: str | bytes) -> str:
    """What is stored of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


def matches(key: str | bytes, stored: str) -> bool:
    """Whether `key` is the key whose digest is `stored` (constant time)."""
    return hmac.compare_digest(digest(key), stored)


def shown(key_id: str) -> str:
    """How a key is shown once made: its prefix (`hf_hr_<id>`), the secret left out."""
    return f"{PREFIX}{key_id}"
