"""Fetching user-given URLs without reaching what the router can reach and the user must not (SSRF).

`AddressRules` holds the rules (`inputs:` settings): a URL's form and scheme, its literal address,
and, at connection time, every address its name resolves to (`AddressRules.resolver`: the connector
connects only to addresses checked). `Fetcher` applies them to client-given URLs; the transport
applies the same rules to the URLs providers answer with (`Transport.open_checked`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from hubroute.inputs.decode import GENERIC_TYPES, Binary, invalid, sniff

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InputSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """How binary inputs given as URLs are fetched (config key suggestion: `inputs:`)."""

    #: largest input accepted in any form, bytes
    max_bytes: int = 20 * 1024 * 1024
    #: seconds for a whole fetch: connecting, every redirect, reading the body
    timeout: float = 15.0
    connect_timeout: float = 5.0
    max_redirects: int = 3
    schemes: tuple[str, ...] = ("http", "https")
    #: fetch from loopback, private, link-local... addresses too (a trusted network only)
    allow_private: bool = False
    #: host names (exact) and IP addresses or networks (CIDR) exempt from the address check
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.timeout <= 0 or self.connect_timeout <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes, timeout and connect_timeout must be positive, max_redirects >= 0")
        if not set(self.schemes) <= {"http", "https"}:
            raise ValueError("schemes may only be http and https")


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)
_INTERNAL = "a loopback, private, link-local or otherwise internal address"


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is a globally routable unicast address (IPv4 inside IPv6 judged as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if inner is not None:
            return is_public(inner)
        if ip.is_site_local or (ip.sixtofour is not None and not is_public(ip.sixtofour)):
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified or ip in _CGNAT
    )


class Refused(Exception):
    """A URL or address the rules refuse. Raised by the guarded resolver too: not an OSError, so that
    aiohttp passes it through as it is."""


class _Policy:
    def __init__(self, settings: InputSettings) -> None:
        self.allow_private = settings.allow_private
        names, nets = set(), []
        for entry in settings.allowed_hosts:
            try:
                nets.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                names.add(entry.strip().rstrip(".").lower())
        self.names = frozenset(names)
        self.nets = tuple(nets)

    def exempt(self, host: str) -> bool:
        return self.allow_private or host.rstrip(".").lower() in self.names

    def allows(self, ip: IPAddress) -> bool:
        return self.allow_private or is_public(ip) or any(ip in net for net in self.nets)


class _GuardedResolver(AbstractResolver):
    """Resolves with `inner`, then refuses the name unless every address it got is allowed. What it
    returns is what the connector connects to: the checked addresses, and only them."""

    def __init__(self, inner: AbstractResolver, policy: _Policy) -> None:
        self._inner = inner
        self._policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._policy.exempt(host):
            for result in results:
                if not self._policy.allows(ipaddress.ip_address(result["host"])):
                    raise Refused(f"host {host} resolves to {_INTERNAL}; fetching it is not allowed")
        return results

    async def close(self) -> None:
        await self._inner.close()


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class AddressRules:
    """The address rules of `settings` for any URL the router fetches on someone else's word."""

    def __init__(self, settings: InputSettings | None = None) -> None:
        self.settings = settings or InputSettings()
        self._policy = _Policy(self.settings)

    def resolver(self, inner: AbstractResolver | None = None) -> AbstractResolver:
        """A resolver (the system's, or `inner`) that refuses a name unless all its addresses pass."""
        return _GuardedResolver(inner or aiohttp.ThreadedResolver(), self._policy)

    def check(self, url: str, base: URL | None = None) -> URL:
        """`url` (relative to `base`) parsed, if its scheme, form and host may be fetched, else
        `Refused` saying why; the addresses of a name are checked by `resolver()` when connecting."""
        try:
            parsed = base.join(URL(url)) if base is not None else URL(url)
            host = (parsed.raw_host or "").rstrip(".")
        except (TypeError, ValueError):
            raise Refused("is not a valid URL") from None
        scheme = parsed.scheme.lower()
        if scheme not in self.settings.schemes:
            raise Refused(f"URL scheme '{scheme[:20]}' is not allowed (allowed: {', '.join(self.settings.schemes)})")
        if "@" in (parsed.raw_authority or ""):
            raise Refused("URLs with credentials (user:password@) are not accepted")
        if not host:
            raise Refused("the URL has no host")
        ip: IPAddress | None = None
        try:
            if ":" in host:
                ip = ipaddress.IPv6Address(host)
            elif _NUMERIC_LABEL.fullmatch(host.rpartition(".")[2]):
                ip = ipaddress.IPv4Address(host)
        except ValueError:
            raise Refused(f"the URL's host {host[:64]} is not a canonical IP address or name") from None
        if ip is not None and not self._policy.exempt(host) and not self._policy.allows(ip):
            raise Refused(f"the URL's address {ip} is {_INTERNAL}; fetching it is not allowed")
        return parsed


class Fetcher:
    """Fetches user-given URLs under `settings`. Owns its aiohttp session (made on first use, closed by
    `aclose()`). `resolver` replaces the system resolver (its answers are still checked)."""

    def __init__(self, settings: InputSettings | None = None, *, resolver: AbstractResolver | None = None,
                 user_agent: str = "hubroute") -> None:
        self.settings = settings or InputSettings()
        self._rules = AddressRules(self.settings)
        self._resolver = resolver
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = self.settings
            resolver = self._rules.resolver(self._resolver)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False),
                headers={"user-agent": self._user_agent},
                skip_auto_headers=("accept-encoding",),  # identity: Content-Length is the real size
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # a proxy from the environment would connect where we did not check
                timeout=aiohttp.ClientTimeout(total=None, connect=s.connect_timeout, sock_connect=s.connect_timeout),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def fetch(self, url: str, *, field: str) -> Binary:
        """GET `url` (following checked redirects) and return its body; refusals raise InvalidRequest."""
        s = self.settings
        try:
            async with asyncio.timeout(s.timeout):
                return await self._fetch(url, field)
        except Refused as exc:
            raise invalid(field, str(exc)) from None
        except aiohttp.ConnectionTimeoutError:
            raise invalid(field, f"connecting to the URL's host timed out after {s.connect_timeout:g}s") from None
        except TimeoutError:
            raise invalid(field, f"fetching the URL timed out after {s.timeout:g}s") from None
        except aiohttp.ClientConnectorDNSError:
            raise invalid(field, "the URL's host name could not be resolved") from None
        except aiohttp.ClientConnectorError as exc:
            raise invalid(field, f"could not connect to the URL's host: {exc.os_error.strerror or 'failed'}") \
                from None
        except aiohttp.ClientError as exc:
            raise invalid(field, f"fetching the URL failed ({exc.__class__.__name__})") from None

    async def _fetch(self, url: str, field: str) -> Binary:
        s = self.settings
        target = self._check(url, field)
        for _ in range(s.max_redirects + 1):
            async with self._client().get(target, allow_redirects=False) as resp:
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("location")
                    if not location:
                        raise invalid(field, f"the URL answered HTTP status {resp.status} with no Location")
                    target = self._check(location, field, base=target)
                    continue
                if resp.status != 200:
                    raise invalid(field, f"the URL answered HTTP status {resp.status}")
                if resp.content_length is not None and resp.content_length > s.max_bytes:
                    raise invalid(field, f"is too large: the URL's body has {resp.content_length} bytes, "
                                          f"more than {s.max_bytes}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > s.max_bytes:
                        raise invalid(field, f"is too large: the URL's body has more than {s.max_bytes} bytes")
                    chunks.append(chunk)
                data = b"".join(chunks)
                if not data:
                    raise invalid(field, "the URL answered an empty body")
                declared = (resp.headers.get("content-type") or "").partition(";")[0].strip().lower()
                return Binary(data, declared if declared not in GENERIC_TYPES else sniff(data))
        raise invalid(field, f"the URL redirected more than {s.max_redirects} times")

    def _check(self, url: str, field: str, base: URL | None = None) -> URL:
        """`url` (relative to `base`) parsed, if its scheme, form and host may be fetched; the addresses
        of a name are checked by the resolver."""
        try:
            return self._rules.check(url, base)
        except Refused as exc:
            raise invalid(field, str(exc)) from None
