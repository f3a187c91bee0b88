"""Live provider mappings from the Hugging Face Hub, merged into the in-memory catalog.

`HubCatalog.resolve(model_id)` answers from the catalog and, when an HF token is configured and
`huggingface.live_catalog` is on, looks the model up at
`GET {hub}/api/models/{id}?expand[]=inferenceProviderMapping`:

- one look-up per model at a time (concurrent requests share it), cached for `catalog_ttl`;
  404s and failures (401/403, 5xx, timeouts, bad JSON) are cached for `catalog_negative_ttl`;
- a request waits at most `catalog_wait` seconds: on a slow Hub it goes on with the built-in/config
  data while the look-up finishes in the background and fills the cache. Once a model has been
  looked up, expired data is served at once and refreshed in the background;
- nothing is raised to the request; failures are logged (never the token).

Merge rules (sources are tracked on `ProviderMapping.source`): config mappings always win and stay
first; live mappings replace built-in ones for the same provider (keeping the built-in price and
limits when the provider id is the same) and follow in the Hub's order; built-in mappings the Hub
does not mention are kept; live mappings from an earlier look-up that the Hub no longer lists are
dropped. Providers hubroute does not know are skipped; `error` mappings are kept with their status,
so they stay out of routing (`ProviderMapping.usable` is False).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from hubroute.catalog import Catalog, ModelEntry, ProviderMapping, mapping_from_json
from hubroute.errors import scrub
from hubroute.providers._base import HttpRequest
from hubroute.task_names import CONVERSATIONAL
from hubroute.transport import Timeouts, Transport

if TYPE_CHECKING:
    from hubroute.config import Settings

log = logging.getLogger("hubroute.hub")

HUB = "huggingface-hub"  # the name look-up errors carry
_MAX_BODY = 4 * 1024 * 1024
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_CARRIED = ("pricing", "context_length", "supports_tools", "supports_structured_output", "throughput", "latency")


class HubCatalog:
    """A `Catalog` with bounded, cached, single-flight live look-ups on the Hub."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        transport: Transport,
        *,
        known_providers: Collection[str],
        timeouts: Timeouts | None = None,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        hf = settings.huggingface
        self.catalog = catalog
        self._transport = transport
        self._token = hf.token
        self._hub_url = settings.hub_url
        self._live = hf.live_catalog
        self._ttl, self._negative_ttl, self._wait = hf.catalog_ttl, hf.catalog_negative_ttl, hf.catalog_wait
        self._known = frozenset(known_providers)
        self._timeouts = timeouts or Timeouts(connect=5.0, first_byte=15.0, idle=15.0)
        self._max_entries = max_entries
        self._clock = clock
        #: lower-cased model id -> (expiry on `clock`, whether the look-up found the model)
        self._cache: dict[str, tuple[float, bool]] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        #: lower-cased entry id -> its non-live mappings, so a refresh can restore displaced built-ins
        self._base: dict[str, list[ProviderMapping]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._token) and self._live

    def get(self, model_id: str) -> ModelEntry | None:
        """What is known now, without any I/O."""
        return self.catalog.get(model_id)

    async def resolve(self, model_id: str) -> ModelEntry | None:
        """The catalog entry for `model_id`, refreshed from the Hub within `catalog_wait` seconds."""
        if not self.enabled or not _HUB_ID.match(model_id) or ".." in model_id:
            return self.catalog.get(model_id)
        key = model_id.lower()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._clock():
            return self.catalog.get(model_id)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._lookup(model_id, key), name=f"hub-lookup:{model_id}")
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._inflight.pop(key, None) if self._inflight.get(key) is t else None)
        if cached is None or not cached[1]:  # never found before: worth waiting a little
            done, _ = await asyncio.wait({task}, timeout=self._wait)
            if not done:
                log.debug("hub: look-up for %s still running after %gs; going on without it", model_id, self._wait)
        return self.catalog.get(model_id)

    async def wait_idle(self) -> None:
        """Wait for the look-ups under way (tests, warm-up)."""
        while self._inflight:
            await asyncio.wait(set(self._inflight.values()))
            await asyncio.sleep(0)  # let the done-callbacks run

    async def aclose(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()

    # --- one look-up --------------------------------------------------------------------------
    async def _lookup(self, model_id: str, key: str) -> None:
        found = False
        try:
            data = await self._fetch(model_id)
            if data is not None:
                self._apply(model_id, data)
                found = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("hub look-up for %s failed: %s", model_id, scrub(f"{exc.__class__.__name__}: {exc}"))
        self._remember(key, found)

    async def _fetch(self, model_id: str) -> dict[str, Any] | None:
        """The Hub's answer, or None when the model is not on the Hub or the Hub would not say."""
        url = f"{self._hub_url}/api/models/{quote(model_id, safe='/')}?expand[]=inferenceProviderMapping"
        headers = {"authorization": f"Bearer {self._token}", "accept": "application/json"}
        resp = await self._transport.fetch(HttpRequest("GET", url, headers), HUB, self._timeouts, _MAX_BODY)
        if resp.status != 200:
            if resp.status == 404:
                log.debug("hub: %s is not on the Hub", model_id)
            elif resp.status in (401, 403):
                log.warning("hub: token refused (%d) looking up %s; check huggingface.token", resp.status, model_id)
            else:
                log.warning("hub: %d looking up %s", resp.status, model_id)
            return None
        data = orjson.loads(resp.body)
        if not isinstance(data, dict):
            raise ValueError(f"unexpected answer of type {type(data).__name__}")
        return data

    def _remember(self, key: str, found: bool) -> None:
        now = self._clock()
        self._cache.pop(key, None)
        self._cache[key] = (now + (self._ttl if found else self._negative_ttl), found)
        if len(self._cache) > self._max_entries:  # expired ones first, then the oldest
            for k in [k for k, (exp, _) in self._cache.items() if exp <= now] or list(self._cache)[:1]:
                del self._cache[k]

    # --- merging --------------------------------------------------------------------------------
    def _apply(self, model_id: str, data: dict[str, Any]) -> None:
        hub_id = str(data.get("id") or model_id)
        current = self.catalog.get(model_id) or self.catalog.get(hub_id)
        live = self.parse(hub_id, data.get("inferenceProviderMapping"), current.task if current else None)
        if current is None:
            if live:
                task = next((m.task for m in live if m.task == CONVERSATIONAL), live[0].task)
                self.catalog.put(ModelEntry(hub_id, task, live, owned_by=hub_id.split("/")[0]))
            return
        # what the data file and the config say, including built-ins an earlier look-up displaced
        key = current.id.lower()
        base = {m.provider: m for m in self._base.get(key, ())}
        base.update((m.provider, m) for m in current.providers if m.source != "hub")
        self._base[key] = list(base.values())
        config = [m for m in base.values() if m.source == "config"]
        pinned = {m.provider for m in config}
        fresh = [_carry(m, base.get(m.provider)) for m in live if m.provider not in pinned]
        named = pinned | {m.provider for m in fresh}
        rest = [m for m in base.values() if m.provider not in named]
        self.catalog.put(replace(current, providers=config + fresh + rest))

    def parse(self, hub_id: str, raw: object, task: str | None = None) -> list[ProviderMapping]:
        """Mappings from `inferenceProviderMapping`, a dict {provider: {...}} or a list [{provider, ...}].

        Unknown providers and malformed items are skipped; one mapping per provider, preferring
        `task` (else conversational) when the Hub lists a provider for several tasks.
        """
        if isinstance(raw, dict):
            items: list[tuple[object, object]] = list(raw.items())
        elif isinstance(raw, list):
            items = [(v.get("provider"), v) for v in raw if isinstance(v, dict)]
        else:
            if raw is not None:
                log.debug("hub: %s: unexpected inferenceProviderMapping %s", hub_id, type(raw).__name__)
            return []
        wanted = task or CONVERSATIONAL
        out: dict[str, ProviderMapping] = {}
        for name, value in items:
            if not isinstance(name, str) or not isinstance(value, dict):
                log.debug("hub: %s: malformed mapping skipped", hub_id)
                continue
            if name not in self._known:
                log.debug("hub: %s: provider %s is not known to hubroute, skipped", hub_id, name)
                continue
            try:
                mapping = replace(mapping_from_json(name, value, wanted), source="hub")
            except (TypeError, ValueError, AttributeError) as exc:
                log.debug("hub: %s: mapping for %s skipped: %s", hub_id, name, exc)
                continue
            if not mapping.provider_id:
                log.debug("hub: %s: mapping for %s has no providerId, skipped", hub_id, name)
                continue
            if mapping.status == "error":
                log.debug("hub: %s: %s reports status error; kept out of routing", hub_id, name)
            if name not in out or (out[name].task != wanted and mapping.task == wanted):
                out[name] = mapping
        return list(out.values())


def _carry(live: ProviderMapping, old: ProviderMapping | None) -> ProviderMapping:
    """Keep the data file's price and limits for the same provider id (the Hub does not send them)."""
    if old is None or old.provider_id != live.provider_id:
        return live
    return replace(live, **{f: getattr(old, f) for f in _CARRIED if getattr(live, f) is None})
