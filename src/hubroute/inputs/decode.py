"""Binary inputs given inline: raw bytes, base64 (standard or URL-safe, padding optional), data: URIs;
and content types sniffed from magic bytes."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from hubroute.errors import InvalidRequest, scrub


@dataclass(frozen=True, slots=True)
class Binary:
    data: bytes
    content_type: str | None = None


URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})


def invalid(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(scrub(f"'{field}': {reason}"), param=field)


def check_size(data: bytes, field: str, limit: int) -> None:
    if not data:
        raise invalid(field, "is empty")
    if len(data) > limit:
        raise invalid(field, f"is too large (more than {limit} bytes)")


def b64decode(text: str, field: str, limit: int, what: str = "base64") -> bytes:
    text = "".join(text.split())
    if len(text) > (limit // 3 + 1) * 4:
        raise invalid(field, f"is too large (more than {limit} bytes)")
    urlsafe = "-" in text or "_" in text
    text = text.rstrip("=")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if urlsafe else None, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(field, f"is not valid {what}") from None
    check_size(data, field, limit)
    return data


def data_uri(text: str, field: str, limit: int) -> Binary:
    header, comma, payload = text[5:].partition(",")
    if not comma:
        raise invalid(field, "is not a valid data: URI (no comma)")
    params = [p.strip() for p in header.split(";")]
    mime = params[0].lower() if "/" in params[0] else ""
    if any(p.lower() == "base64" for p in params[1:]):
        data = b64decode(payload, field, limit)
    else:
        if len(payload) > 3 * limit:
            raise invalid(field, f"is too large (more than {limit} bytes)")
        data = unquote_to_bytes(payload)
        check_size(data, field, limit)
    return Binary(data, mime if mime not in GENERIC_TYPES else sniff(data))


_FTYP = {b"qt  ": "video/quicktime", b"M4A ": "audio/mp4", b"M4B ": "audio/mp4", b"avif": "image/avif",
         b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"3gp4": "video/3gpp"}
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_PREFIXES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
             (b"GIF89a", "image/gif"), (b"fLaC", "audio/flac"), (b"OggS", "audio/ogg"), (b"ID3", "audio/mpeg"),
             (b"%PDF-", "application/pdf"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


def sniff(data: bytes) -> str | None:
    """The content type told by `data`'s magic bytes, or None."""
    for prefix, mime in _PREFIXES:
        if data.startswith(prefix):
            return mime
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return _FTYP.get(data[8:12], "video/mp4")
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, or WebM when its DocType says so
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # MPEG audio frame sync
        return "audio/mpeg" if data[1] & 0x06 else "audio/aac"  # layer 00 is ADTS (AAC)
    return None


