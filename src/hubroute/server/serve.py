"""Running the app under uvicorn (its server, uvloop, our HTTP/1.1 protocol on httptools: see README;
uvicorn's own httptools protocol under `server.http_stack: stock`).

The listening sockets are bound first, before anything else starts: an address that cannot be
listened on (a port in use) ends the start with one line and exit 2 (`CannotListen`), and "ready"
is logged only once uvicorn listens on them. A router that no credentials let reach any provider
says so at start, in one line, with what to set.

What a client connection may cost (timeouts, head sizes, the connection cap: `server:` in the config)
is bounded by our protocol (`http.Limits`); under `http_stack: stock` only what uvicorn's options
offer holds: the keep-alive timeout, and `limit_concurrency` (503 to requests beyond the cap; idle
connections are not closed to make room, silent ones and slow heads not timed out, heads unbounded).
At start the process's soft limit on open files is raised to its hard limit (as Go's runtime does).

SIGTERM and SIGINT stop accepting connections, let in-flight requests (streams included) finish
for up to `server.shutdown_timeout` seconds, then close the upstream pool and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import math
import resource
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from hubroute.config import Settings
from hubroute.routing.upstreams import Upstreams
from hubroute.server import logs
from hubroute.server.app import App
from hubroute.server.http import HttpProtocol, Limits

log = logging.getLogger("hubroute.server")


class CannotStart(Exception):
    """The router cannot start; the message is the one line to show."""


class CannotListen(CannotStart):
    """The router's address cannot be listened on."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_ready is not None:  # listening now (and not before)
            self._on_ready()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            # uvicorn re-raises the captured SIGTERM after the graceful shutdown, so the process would
            # die by the signal (143); a completed graceful stop is a clean exit.
            self._captured_signals.clear()


def uvicorn_config(app: App, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How the router runs under uvicorn (the tests start it the same way)."""
    s = settings.server
    limits = connection_limits(settings)
    fast = s.http_stack == "fast"
    options: dict[str, Any] = dict(
        host=s.host,
        port=s.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        # HTTP/1.1 on httptools, a leaner request cycle than uvicorn's (server/http.py); or uvicorn's own
        http=HttpProtocol.configured(limits) if fast else "httptools",
        # uvicorn's protocol: 503 to requests beyond the cap (ours closes idle connections to make room)
        limit_concurrency=None if fast else limits.max_connections,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # the router reads no client address; saves a middleware per request
        timeout_graceful_shutdown=math.ceil(s.shutdown_timeout),
        timeout_keep_alive=s.keep_alive_timeout,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def connection_limits(settings: Settings) -> Limits:
    """The protocol's limits from `server:`; the connection cap by default half the file-descriptor
    limit (the other half for upstream connections, one at most per request in progress, and files)."""
    s = settings.server
    cap = s.max_connections or max(64, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)
    return Limits(idle_timeout=s.idle_timeout, header_timeout=s.header_timeout, max_connections=cap,
                  max_header_line_bytes=s.max_header_line_bytes, max_head_bytes=s.max_head_bytes,
                  max_header_count=s.max_header_count, max_body_bytes=s.max_request_bytes)


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit (capped at 2**20 when unlimited); the
    soft limit in force after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listen(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """The bound sockets the router will listen on, one per address `host` names (as uvicorn's
    own binding makes them); `CannotListen` when one cannot be bound. `reuse_port`: sockets of
    several processes share the port, the kernel spreading connections among them (`--workers`)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {where}: {_lower(exc.strerror or str(exc))}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListen(f"cannot listen on {where}: {_lower(exc.strerror or str(exc))}") from None
    return sockets


def _lower(reason: str) -> str:
    return reason[:1].lower() + reason[1:]


def reachable(upstreams: Upstreams) -> list[str]:
    """The providers this router's credentials reach: by a key, an HF token, or a custom endpoint."""
    return [name for name in sorted(upstreams.known()) if upstreams.endpoint(name) is not None]


def own_keys(upstreams: Upstreams) -> bool:
    """Whether a config deployment (LiteLLM's `model_list`) carries its own key or endpoint."""
    return any(d.endpoint is not None for deployments in upstreams.aliases.values() for d in deployments)


NO_PROVIDER = ("no provider is reachable (no HF token, provider key or custom endpoint): set HF_TOKEN, a provider "
               "key such as GROQ_API_KEY, or a `providers:` entry in the config (see README, Configuration)")


def prepare_store(settings: Settings) -> None:
    """The store opened and migrated once before the server starts: a database that cannot be
    reached, or whose schema is newer than this hubroute, stops the start here with one line."""
    if not settings.store.enabled:
        return
    from hubroute.store import StoreUnavailable, default_url, redacted, upgrade

    url = settings.store.url or default_url()
    try:
        before, now = asyncio.run(upgrade(url, check_seals=True, secret=settings.accounts.encryption_key,
                                           ledger_partition=settings.store.ledger_partition))
    except StoreUnavailable as exc:
        raise CannotStart(str(exc)) from None
    if before != now:
        log.info("store %s: schema %s (was %s)", redacted(url), now, before or "empty")


def alone(settings: Settings, deployment: str) -> None:
    """Without Redis, what this deployment enforces (credits, the store's rate limits and budgets)
    is held in each of its processes: refused (CannotStart, one line) with several workers, or
    beside another router on the same store."""
    if settings.redis.url or not settings.store.enabled:
        return
    from hubroute.store.presence import described

    found, others = asyncio.run(_unshared(settings, deployment))
    if not found:
        if others:
            log.warning("%s uses this store too, without sharing limits through Redis (redis.url): rate "
                        "limits, budgets and credits cannot be set while it runs", described(others[0]))
        return
    held = " and ".join(found)
    if settings.server.workers > 1:
        raise CannotStart(f"--workers {settings.server.workers}: this deployment has {held}, which each worker "
                          "would hold on its own (each allowing the whole of them): run one worker, or set "
                          "redis.url to share them")
    if others:
        raise CannotStart(f"{described(others[0])} uses this store: this deployment has {held}, which each router "
                          "would hold on its own (each allowing the whole of them): set redis.url on every router "
                          "to share them")


async def _unshared(settings: Settings, deployment: str) -> tuple[list[str], list[dict[str, Any]]]:
    """What this deployment would hold per process, and the other routers alive on its store."""
    from hubroute.store import Store, default_url
    from hubroute.store.presence import others

    found = ["credits (billing.credits)"] if settings.billing.credits else []
    store = await Store.open(settings.store.url or default_url())
    try:
        found += await store.accounts.limits_in_force()
        return found, await others(store.engine, deployment)
    finally:
        await store.close()


def run(settings: Settings) -> None:
    logs.configure(settings.server.log_level)
    raise_fd_limit()
    app = App(settings)  # (a config the app refuses is refused before the store is touched)
    prepare_store(settings)
    alone(settings, app.deployment)
    if settings.server.workers > 1:
        from hubroute.server.workers import supervise

        supervise(settings, app)
        return
    s = settings.server
    sockets = listen(s.host, s.port)
    try:
        warn_if_unreachable(app)
        serve(app, settings, sockets)
    finally:
        for sock in sockets:
            sock.close()


def warn_if_unreachable(app: App) -> None:
    """Say at start, once, when no credentials let the router reach any provider (after the port is
    held: a port in use is the one line a failed start prints)."""
    if not reachable(app.engine.upstreams) and not own_keys(app.engine.upstreams):
        log.warning(NO_PROVIDER)


def serve(app: App, settings: Settings, sockets: list[socket.socket], worker: str = "",
          on_ready: Callable[[_Server], None] | None = None) -> None:
    """Run `app` on `sockets` until a signal stops it (`worker`: which one, in its "ready" line)."""
    s = settings.server
    providers = reachable(app.engine.upstreams)
    url = f"http://[{s.host}]:{s.port}" if ":" in s.host else f"http://{s.host}:{s.port}"
    stack = "" if s.http_stack == "fast" else ", http stack: stock"

    def ready() -> None:
        log.info("hubroute ready on %s: %d catalog models, %d providers reachable%s%s", url,
                 len(app.engine.catalog), len(providers), stack, worker)
        if on_ready is not None:
            on_ready(server)

    server = _Server(uvicorn_config(app, settings), on_ready=ready)
    server.run(sockets=sockets)
