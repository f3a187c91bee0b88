"""What each `type: openai-compatible` provider of the config serves, from its own `GET /v1/models`.

A custom server (vLLM, TGI, llama.cpp, Ollama, LM Studio, an Inference Endpoint) serves:

- the ids its `GET /v1/models` lists (read here: at start, then every `discovery.refresh` seconds
  in the background; each read bounded by `discovery.timeout` and `discovery.max_models` ids);
- the ids `models:` maps to it in the config (the catalog has those);
- any id pinned to it with `:name` (the router sends those as given, without asking).

Discovered ids are laid over the catalog, never written into it: `entry(id, catalog_entry)` is the
catalog's entry with the servers that list the id added after its own providers (or an entry of
their own for an id no catalog knows), as `ProviderMapping`s with `source="discovered"`, which
match any task their provider has a route for (a server's list does not say what each id does).

A failed read is logged once (a warning, then quietly until the server answers again) and never
fatal: the server keeps what it listed last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import orjson

from hubroute.catalog import ModelEntry, ProviderMapping
from hubroute.errors import scrub
from hubroute.providers import CHAT, Endpoint, HttpRequest, Provider
from hubroute.transport import Timeouts, Transport

if TYPE_CHECKING:
    from hubroute.config import DiscoverySettings

log = logging.getLogger("hubroute.discovery")

#: `ProviderMapping.source` of a mapping learnt from a server's model list
DISCOVERED = "discovered"
#: the largest model list read (a thousand ids with their metadata is well under this)
MAX_LIST_BYTES = 8 * 1024 * 1024
MAX_ID_LENGTH = 256


class ListingError(Exception):
    """A server's answer to `GET /v1/models` is not an OpenAI model list."""


def parse_listing(body: bytes, limit: int) -> tuple[list[str], int]:
    """The ids of an OpenAI model list (`{"object": "list", "data": [{"id"}, ...]}`), at most `limit`
    of them in the server's order, and how many valid ids were left out. Items without a usable id
    (not a string, empty, too long, containing spaces or control characters) are skipped."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ListingError("the answer is not JSON") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ListingError("the answer has no 'data' list")
    ids: list[str] = []
    seen: set[str] = set()
    left_out = 0
    for item in items:
        model = item.get("id") if isinstance(item, dict) else None
        if not isinstance(model, str) or not _usable_id(model) or model in seen:
            continue
        if len(ids) >= limit:
            left_out += 1
            continue
        seen.add(model)
        ids.append(model)
    return ids, left_out


def _usable_id(model: str) -> bool:
    return 0 < len(model) <= MAX_ID_LENGTH and model.isprintable() and not any(c.isspace() for c in model)


@dataclass(slots=True)
class _Server:
    name: str
    provider: Provider
    endpoint: Endpoint
    #: the ids it listed last, in its order
    ids: list[str] = field(default_factory=list)
    #: whether its last read failed (a failure is logged when it starts, not at every read)
    failing: bool = False
    #: whether its list was cut at `max_models` (said once)
    cut: bool = False


class Discovery:
    """The model lists of the config's OpenAI-compatible servers, kept fresh in the background."""

    def __init__(self, servers: Sequence[tuple[str, Provider, Endpoint]], transport: Transport,
                 settings: DiscoverySettings) -> None:
        self._servers = [_Server(name, provider, endpoint) for name, provider, endpoint in servers]
        self._transport = transport
        self.refresh_every = settings.refresh
        self.timeout = settings.timeout
        self.max_models = settings.max_models
        #: lower-cased id -> the discovered mappings of that id, in config order of the servers
        self._by_id: dict[str, tuple[ProviderMapping, ...]] = {}
        #: lower-cased id -> (catalog entry it was laid over, the entry with the mappings added)
        self._merged: dict[str, tuple[ModelEntry | None, ModelEntry]] = {}
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Event | None = None
        #: whether the first read of every server has ended (answered, failed or timed out)
        self.ready = False

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start reading in the background (idempotent; needs a running event loop)."""
        if self._task is None:
            if self._first is None:
                self._first = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hubroute-discovery")

    async def wait(self) -> None:
        """Until the first read of every server has ended (at most `timeout` seconds after it began);
        starts the reads if nothing has yet."""
        if self.ready:
            return
        self.start()
        assert self._first is not None
        await self._first.wait()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while True:
                try:
                    await self.refresh()
                except Exception:  # a bug here must not leave requests waiting for the first read
                    log.exception("discovery: reading the model lists failed")
                self._set_ready()
                if self.refresh_every <= 0:
                    return
                await asyncio.sleep(self.refresh_every)
        finally:
            self._set_ready()

    def _set_ready(self) -> None:
        if not self.ready:
            self.ready = True
            if self._first is not None:
                self._first.set()

    # --- reading --------------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read every server's list once, concurrently, and apply what changed."""
        changed = await asyncio.gather(*(self._read(s) for s in self._servers))
        if any(changed):
            self._index()

    async def _read(self, server: _Server) -> bool:
        """One read of `server`'s list; whether its ids changed."""
        url = server.endpoint.base_url.rstrip("/") + "/models"
        headers = {"accept": "application/json", **server.provider.auth_headers(server.endpoint)}
        t = self.timeout
        try:
            async with asyncio.timeout(t):
                resp = await self._transport.fetch(HttpRequest("GET", url, headers), server.name,
                                                   Timeouts(t, t, t), MAX_LIST_BYTES)
            if resp.status != 200:
                raise ListingError(f"HTTP {resp.status}")
            ids, left_out = parse_listing(resp.body, self.max_models)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(server, url, exc)
            return False
        if server.failing:
            server.failing = False
            log.info("discovery: %s answers its model list again (%d models)", server.name, len(ids))
        if left_out and not server.cut:
            server.cut = True
            log.warning("discovery: %s lists %d models; the first %d are kept (discovery.max_models)",
                        server.name, len(ids) + left_out, len(ids))
        if ids == server.ids:
            return False
        log.debug("discovery: %s serves %d models", server.name, len(ids))
        server.ids = ids
        return True

    def _failed(self, server: _Server, url: str, exc: BaseException) -> None:
        what = "timed out" if isinstance(exc, TimeoutError) else str(exc) or exc.__class__.__name__
        message = scrub(f"discovery: {server.name}: GET {url} failed: {what}")
        if server.failing:
            log.debug("%s", message)
            return
        server.failing = True
        kept = f"keeping the {len(server.ids)} models it listed before" if server.ids else "no models learnt"
        log.warning("%s (%s; it still serves the models the config maps to it, and any id pinned with "
                    ":%s)", message, kept, server.name)

    def _index(self) -> None:
        by_id: dict[str, list[ProviderMapping]] = {}
        for server in self._servers:
            for model in server.ids:
                by_id.setdefault(model.lower(), []).append(
                    ProviderMapping(server.name, model, CHAT, source=DISCOVERED))
        self._by_id = {k: tuple(v) for k, v in by_id.items()}
        self._merged = {}

    # --- reading what was learnt ----------------------------------------------------------------
    def models(self, provider: str) -> list[str]:
        """The ids `provider` listed last."""
        return next((list(s.ids) for s in self._servers if s.name == provider), [])

    def knows(self, model: str) -> bool:
        return model.lower() in self._by_id

    def entry(self, model: str, base: ModelEntry | None) -> ModelEntry | None:
        """`base` (the catalog's entry for `model`, or None) with the servers that list `model` added
        after its own providers; `base` itself when none does. Merged entries are kept until the
        next change of either side, so callers may cache on the entry's identity."""
        key = model.lower()
        found = self._by_id.get(key)
        if found is None:
            return base
        cached = self._merged.get(key)
        if cached is not None and cached[0] is base:
            return cached[1]
        if base is None:
            owner = found[0].provider_id.split("/")[0] if "/" in found[0].provider_id else found[0].provider
            merged = ModelEntry(found[0].provider_id, CHAT, list(found), owned_by=owner)
        else:
            extra = [replace(m, task=base.task) for m in found if base.mapping(m.provider) is None]
            merged = replace(base, providers=base.providers + extra) if extra else base
        self._merged[key] = (base, merged)
        return merged

    def entries(self, skip: Container[str] = ()) -> Iterator[ModelEntry]:
        """An entry per discovered id whose lower-cased form is not in `skip` (ids no catalog has)."""
        for key in self._by_id:
            if key not in skip:
                entry = self.entry(key, None)
                if entry is not None:
                    yield entry
