"""A task's binary input (image, audio, document) as bytes plus a content type, safely.

    load_binary(value, field=, fetcher=)   raw bytes | base64 | data: URI | http(s) URL  ->  Binary

A URL is fetched by a `Fetcher`, the router's own HTTP client for user-given URLs (apart from the
provider transport: its safety rules differ). It refuses, before connecting:

- schemes outside `schemes`, URLs with credentials, hosts that are not canonical (`2130706433`, `0x7f.1`);
- addresses that are loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud
  metadata service, fe80::/10), unspecified, multicast, reserved, carrier-grade NAT (100.64/10), or
  such an address inside IPv6 (IPv4-mapped, 6to4, NAT64); for names, checked on the resolver's
  answer, which is then the only address the connection may use (no DNS rebinding between check
  and connect). `allow_private` lifts this; `allowed_hosts` lifts it for listed names and networks;
- more than `max_redirects` redirects (each one is checked like the first URL), a Content-Length
  over `max_bytes`, a body that grows past it while streaming, a total time over `timeout`.

Every refusal is an `InvalidRequest` (400) naming the field and the reason, never echoing the URL.
"""

from __future__ import annotations

from hubroute.inputs.decode import URL_START, Binary, b64decode, check_size, data_uri, invalid, sniff
from hubroute.inputs.fetch import Fetcher, InputSettings, is_public

__all__ = ["Binary", "Fetcher", "InputSettings", "is_public", "load_binary", "sniff"]


async def load_binary(value: str | bytes | bytearray | memoryview, *, field: str, fetcher: Fetcher) -> Binary:
    """The bytes of a binary input given as raw bytes, base64, a data: URI or a URL (fetched).

    The content type is the declared one (data: URI, response header) unless absent or generic,
    else sniffed from magic bytes (None if unknown). Limits are the fetcher's settings.
    """
    limit = fetcher.settings.max_bytes
    if isinstance(value, bytes | bytearray | memoryview):
        data = value if isinstance(value, bytes) else bytes(value)
        check_size(data, field, limit)
        return Binary(data, sniff(data))
    if not isinstance(value, str):
        raise invalid(field, f"expected bytes, base64, a data: URI or a URL, got {type(value).__name__}")
    text = value.strip()
    if text[:5].lower() == "data:":
        return data_uri(text, field, limit)
    if URL_START.match(text):
        return await fetcher.fetch(text, field=field)
    data = b64decode(text, field, limit, "base64 (nor a data: URI or an http(s) URL)")
    return Binary(data, sniff(data))
