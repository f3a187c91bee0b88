"""aiohttp behind `transport.Transport`: what our own client (`h1`) does not do (redirects, uploads
streamed from a spool file), and every upstream call when `server.http_stack: stock` turns h1 off.

It keeps h1's contract, so that nothing above the transport can tell the two apart:

* timeouts by phase: the connection (name lookup, TCP, a proxy's tunnel, TLS) within `connect`; the
  response head within `first_byte` from the moment the connection is there (aiohttp's tracing says
  when; a pooled one is there at once); each silence of the body within `idle` (`AiohttpBody`). A
  timeout is a `ProviderTimeout` worded as h1's are: "connecting to host:port timed out after 10s",
  "did not answer within 60s", "went silent while answering";
* the same errors and wording for a refused connection, a failed name lookup or TLS handshake, a
  proxy that refuses its tunnel, a connection closed before the answer;
* proxies from the environment chosen by h1's own rule (`h1.proxy_url`: HTTPS_PROXY, HTTP_PROXY,
  NO_PROXY; loopback hosts always direct) rather than by aiohttp's `trust_env`, which would send a
  local vLLM's requests to the office proxy;
* a request whose pooled connection the server had closed under it is sent once more on a new
  connection, whatever its method (aiohttp itself retries only idempotent ones);
* no cookie jar (one provider's Set-Cookie must never follow another user's request), no
  Accept-Encoding asked for (an answer compressed anyway is decompressed), the content type of an
  answer without one is "" (but for downloads that follow redirects: application/octet-stream).

aiohttp is imported when this module is: `transport.py` imports it on first use.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDictProxy

from hubroute import h1
from hubroute.errors import ProviderConnectionError, ProviderError, ProviderResponseError, ProviderTimeout
from hubroute.inputs.decode import Binary

if TYPE_CHECKING:
    from hubroute.providers import HttpRequest
    from hubroute.transport import Timeouts


class AiohttpBody(h1.Body):
    """An aiohttp response behind `h1.Response`'s interface (its errors turned into h1's)."""

    __slots__ = ("_resp", "_untyped", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, untyped: str = "") -> None:
        self._resp = resp
        self._untyped = untyped
        self.status = resp.status
        self.headers: CIMultiDictProxy[str] = resp.headers

    @property
    def content_type(self) -> str:
        value = self.headers.get("content-type")
        return value.partition(";")[0].strip().lower() if value is not None else self._untyped

    @property
    def at_eof(self) -> bool:
        return self._resp.content.at_eof()

    @property
    def received(self) -> bool:
        return self._resp.content.is_eof()

    async def read_any(self, idle: float) -> bytes:
        try:  # (read to its end, the answer gives its connection back to the pool by itself)
            async with asyncio.timeout(idle):
                return await self._resp.content.readany()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimeoutError from exc
        except aiohttp.ClientPayloadError as exc:
            raise h1.H1ConnectionError(f"connection closed by the server: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise h1.H1ConnectionError(f"{exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        self._resp.close()

    def release(self) -> None:
        self._resp.release()


class _Attempt:
    """One request on its way, as aiohttp's tracing reports it: the head's timer starts when the
    connection is there, and a pooled connection that fails may be replaced once."""

    __slots__ = ("first_byte", "loop", "reused", "scope")

    def __init__(self, first_byte: float) -> None:
        self.first_byte = first_byte
        self.loop = asyncio.get_running_loop()
        self.reused = False
        self.scope: asyncio.Timeout | None = None

    def connected(self, reused: bool) -> None:
        self.reused = reused
        if self.scope is not None:
            self.scope.reschedule(self.loop.time() + self.first_byte)


async def _connected(session: Any, context: Any, params: Any) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt):
        attempt.connected(reused=False)


async def _reused(session: Any, context: Any, params: Any) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt):
        attempt.connected(reused=True)


class AiohttpClient:
    """One pooled aiohttp session, opened on first use. With a `resolver` (`AddressRules.resolver`:
    the address rules), it connects directly (no proxy, which would connect where nothing checked)
    to the addresses that resolver allows: the client for URLs a provider answered with."""

    __slots__ = ("_proxies", "_resolver", "_routes", "_session", "_user_agent")

    def __init__(self, user_agent: str = "hubroute", resolver: AbstractResolver | None = None) -> None:
        self._user_agent = user_agent
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] | None = None
        #: (scheme, host) -> the proxy its requests go through, or None: direct
        self._routes: dict[tuple[str, str], h1.Proxy | None] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            tracing = aiohttp.TraceConfig()
            tracing.on_connection_create_end.append(_connected)
            tracing.on_connection_reuseconn.append(_reused)
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True) \
                if self._resolver is None else \
                aiohttp.TCPConnector(limit=0, resolver=self._resolver, use_dns_cache=False, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"user-agent": self._user_agent},
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("accept-encoding",),
                timeout=aiohttp.ClientTimeout(total=None),
                trace_configs=[tracing],
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _proxy(self, scheme: str, host: str) -> h1.Proxy | None:
        if self._resolver is not None:
            return None
        key = (scheme, host)
        try:
            return self._routes[key]
        except KeyError:
            pass
        if self._proxies is None:
            self._proxies = h1.environment_proxies()
        url = h1.proxy_url(self._proxies, scheme, host)
        proxy = None if url is None else h1.Proxy(url)  # ValueError unless http://
        if len(self._routes) >= 1024:
            self._routes.clear()
        self._routes[key] = proxy
        return proxy

    async def send(self, req: HttpRequest, provider: str, timeouts: Timeouts) -> AiohttpBody:
        """Send `req` and wait for its answer's head: the connection within `timeouts.connect`, the
        head within `timeouts.first_byte` once connected. Failures leave as `ProviderError`s."""
        url = urlsplit(req.url)
        host = url.hostname or ""
        try:
            port = url.port or (443 if url.scheme == "https" else 80)
            proxy = self._proxy(url.scheme, host)
        except ValueError as exc:
            raise ProviderConnectionError(f"{provider}: cannot send the request: {exc}", provider=provider) from exc
        data, headers = payload(req)
        proxy_url = proxy_headers = None
        if proxy is not None:
            proxy_url = f"http://{proxy.host}:{proxy.port}"
            if proxy.auth and url.scheme == "https":  # to the proxy, in the tunnel's CONNECT
                proxy_headers = {"proxy-authorization": proxy.auth}
            elif proxy.auth:  # a plain request names the proxy's credentials itself
                headers = {**headers, "proxy-authorization": proxy.auth}
        attempt = _Attempt(timeouts.first_byte)
        retried = False
        while True:
            attempt.reused = False
            try:
                async with asyncio.timeout(None) as attempt.scope:  # armed once connected
                    resp = await self.session.request(
                        req.method, req.url, data=data, headers=headers, timeout=_client_timeout(timeouts.connect),
                        allow_redirects=req.follow_redirects, proxy=proxy_url, proxy_headers=proxy_headers,
                        trace_request_ctx=attempt,
                    )
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # A pooled connection the server had closed before it read this request: once more,
                # on a new connection (a body read from a file cannot be sent twice)
                stale = attempt.reused and not isinstance(exc, aiohttp.ClientConnectorError)
                if stale and not retried and (data is None or isinstance(data, bytes)):
                    retried = True
                    continue
                raise _failure(exc, provider, timeouts, host, port, proxy) from exc
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                raise _failure(exc, provider, timeouts, host, port, proxy) from exc
            return AiohttpBody(resp, "application/octet-stream" if req.follow_redirects else "")


def _failure(exc: BaseException, provider: str, timeouts: Timeouts, host: str, port: int,
             proxy: h1.Proxy | None) -> ProviderError:
    """The `ProviderError` for what went wrong, in h1's words (transport.Transport._send_h1)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProviderTimeout(f"{provider}: connecting to {host}:{port} timed out after {timeouts.connect:g}s",
                               provider=provider)
    if isinstance(exc, TimeoutError):  # the head's (no read timeout is given to aiohttp)
        return ProviderTimeout(f"{provider} did not answer within {timeouts.first_byte:g}s", provider=provider)
    if isinstance(exc, aiohttp.ClientHttpProxyError) and proxy is not None:
        return ProviderConnectionError(
            f"could not connect to {provider} ({host}:{port}): proxy {proxy.host}:{proxy.port} refused the tunnel: "
            f"HTTP/1.1 {exc.status} {exc.message}", provider=provider)
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        reason = f"TLS: {error.reason or error}" if isinstance(error, ssl.SSLError) else h1.os_reason(error)
        if proxy is not None and isinstance(exc, aiohttp.ClientProxyConnectionError):
            reason = f"proxy {proxy.host}:{proxy.port}: {reason}"
        return ProviderConnectionError(f"could not connect to {provider} ({host}:{port}): {reason}",
                                       provider=provider)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return ProviderConnectionError(f"{provider} connection failed: server closed the connection before "
                                       "answering", provider=provider)
    if isinstance(exc, aiohttp.ClientResponseError):  # an answer that is not HTTP
        return ProviderResponseError(f"{provider} answered something that is not HTTP/1.1: invalid HTTP response: "
                                     f"{exc.message}", provider=provider)
    if isinstance(exc, ValueError):  # a URL or header that cannot be sent
        return ProviderConnectionError(f"{provider}: cannot send the request: {exc}", provider=provider)
    return ProviderConnectionError(f"{provider} connection failed: {exc.__class__.__name__}: {exc}",
                                   provider=provider)


def payload(req: HttpRequest) -> tuple[Any, dict[str, str]]:
    """The body as aiohttp takes it: a spooled upload goes as chunks read from its file, with its
    Content-Length (so it is not sent chunked, which some providers refuse)."""
    body = req.body
    if body is None or isinstance(body, bytes):
        return body, req.headers
    if isinstance(body, Binary):
        return body.data, req.headers
    return body.chunks(), {**req.headers, "content-length": str(body.size)}


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float) -> aiohttp.ClientTimeout:
    # the connection's own bound; the head's and the body's are asyncio scopes (aiohttp's read
    # timeout would measure the head from the request's start, and the body with the same bound)
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=None)
