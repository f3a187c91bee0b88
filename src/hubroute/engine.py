"""The routing core of one process, built from the settings: transport, health, upstreams, catalog and
router. The server (`server.app.App`) and the client's direct mode (`hubroute.client`) build it the
same way, here, so a client with provider keys routes, fails over and translates exactly as a
router would.

`start()` begins reading the model lists of the config's OpenAI-compatible servers in the background
(`routing.discovery`); without it the first request that needs them starts the reads. `aclose()`
stops them and closes the transport."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from hubroute.catalog import Catalog
from hubroute.config import Settings
from hubroute.errors import ProviderError
from hubroute.providers import Target
from hubroute.routing.discovery import Discovery
from hubroute.routing.health import Health
from hubroute.routing.router import CatalogSource, Observer, Router
from hubroute.routing.upstreams import Upstreams
from hubroute.transport import Transport


class Unobserved:
    """An observer that records nothing (the client keeps no metrics)."""

    def attempt_failed(self, target: Target, error: ProviderError) -> None:
        pass

    def circuit_opened(self, target: Target) -> None:
        pass


@dataclass(slots=True)
class Engine:
    settings: Settings
    transport: Transport
    health: Health
    upstreams: Upstreams
    #: the static catalog (built-in data and the config's models)
    catalog: Catalog
    #: what the router reads: the static catalog, or live Hub look-ups over it
    source: CatalogSource
    router: Router

    async def start(self) -> None:
        """Begin the background work of the engine (the custom servers' model lists); returns at once."""
        if self.upstreams.discovery is not None:
            self.upstreams.discovery.start()

    async def aclose(self) -> None:
        if self.upstreams.discovery is not None:
            await self.upstreams.discovery.aclose()
        close = getattr(self.source, "aclose", None)
        if close is not None:
            await close()  # cancel Hub look-ups still running
        await self.transport.close()


def build_engine(
    settings: Settings,
    *,
    environ: Mapping[str, str] = os.environ,
    health: Health | None = None,
    observer: Observer | None = None,
    catalog: CatalogSource | None = None,
    user_agent: str = "hubroute",
) -> Engine:
    transport = Transport.from_settings(settings, user_agent=user_agent)  # server.http_stack: fast | stock
    breaker = settings.routing.circuit_breaker
    health = health or Health(failures=breaker.failures, cooldown=breaker.cooldown,
                              max_pause=settings.routing.max_retry_after)
    upstreams = Upstreams(settings, environ)
    servers = [(name, upstreams.providers[name], endpoint) for name in upstreams.custom
               if (endpoint := upstreams.endpoint(name)) is not None]
    if servers:
        upstreams.discovery = Discovery(servers, transport, settings.discovery)
    static = Catalog.builtin()
    static.add_config_models(settings.models)
    source = catalog or _live_catalog(settings, static, transport, upstreams)
    router = Router(settings, source, upstreams, transport, health, observer or Unobserved())
    return Engine(settings, transport, health, upstreams, static, source, router)


def _live_catalog(settings: Settings, static: Catalog, transport: Transport, upstreams: Upstreams) -> CatalogSource:
    hf = settings.huggingface
    if not (hf.token and hf.live_catalog):
        return static
    from hubroute.hub import HubCatalog

    source: CatalogSource = HubCatalog(static, settings, transport, known_providers=upstreams.known())
    return source
