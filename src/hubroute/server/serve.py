"""Running the app under uvicorn (its server, uvloop, our HTTP/1.1 protocol on httptools: see README;
uvicorn's own httptools protocol under `server.http_stack: stock`).

The listening sockets are bound first, before anything else starts: an address that cannot be
listened on (a port in use) ends the start with one line and exit 2 (`CannotListen`), and "ready"
is logged only once uvicorn listens on them. A router that no credentials let reach any provider
says so at start, in one line, with what to set.

SIGTERM and SIGINT stop accepting connections, let in-flight requests (streams included) finish
for up to `server.shutdown_timeout` seconds, then close the upstream pool and exit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from hubroute.config import Settings
from hubroute.routing.upstreams import Upstreams
from hubroute.server import logs
from hubroute.server.app import App
from hubroute.server.http import HttpProtocol

log = logging.getLogger("hubroute.server")


class CannotListen(Exception):
    """The router's address cannot be listened on; the message is the one line to show."""


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
    options: dict[str, Any] = dict(
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        # HTTP/1.1 on httptools, a leaner request cycle than uvicorn's (server/http.py); or uvicorn's own
        http=HttpProtocol if settings.server.http_stack == "fast" else "httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # the router reads no client address; saves a middleware per request
        timeout_graceful_shutdown=math.ceil(settings.server.shutdown_timeout),
        timeout_keep_alive=30,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def listen(host: str, port: int) -> list[socket.socket]:
    """The bound sockets the router will listen on, one per address `host` names (as uvicorn's
    own binding makes them); `CannotListen` when one cannot be bound."""
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


def run(settings: Settings) -> None:
    logs.configure(settings.server.log_level)
    app = App(settings)
    s = settings.server
    sockets = listen(s.host, s.port)
    try:
        providers = reachable(app.engine.upstreams)
        if not providers and not own_keys(app.engine.upstreams):
            log.warning(NO_PROVIDER)
        url = f"http://[{s.host}]:{s.port}" if ":" in s.host else f"http://{s.host}:{s.port}"
        stack = "" if s.http_stack == "fast" else ", http stack: stock"

        def ready() -> None:
            log.info("hubroute ready on %s: %d catalog models, %d providers reachable%s", url,
                     len(app.engine.catalog), len(providers), stack)

        _Server(uvicorn_config(app, settings), on_ready=ready).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
