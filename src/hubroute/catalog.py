"""Which providers serve which Hub model, under which id, for which task, at what price.

Three sources, merged per model (later sources win for the same provider):

1. the built-in data file `hubroute/data/catalog.json` (real mappings and published prices),
2. live Hub look-ups (`GET {hub}/api/models/{id}?expand[]=inferenceProviderMapping`) when an HF token
   is configured; see `hubroute.hub`,
3. the config's `models:` entries.

Provider order inside an entry is the preference order used by `:preferred` (config first).
Mappings that name a provider hubroute does not know, or whose status is `error`, are kept out of
routing but never make loading fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from hubroute.task_names import CONVERSATIONAL

if TYPE_CHECKING:
    from hubroute.config import ModelSettings

log = logging.getLogger("hubroute.catalog")


@dataclass(slots=True, frozen=True)
class Pricing:
    """What a provider charges, in USD: per 1M tokens for text (`input`, `output`, and `cached_input`
    for prompt tokens served from its cache, `input` when not given), and for the other tasks per the
    unit they bill by: an `image` generated, a `second` of audio or video (in for speech recognition,
    out for speech and video), 1M `characters` of text to speech, a `request`."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    image: float | None = None
    second: float | None = None
    characters: float | None = None
    request: float | None = None
    #: whether any unit but tokens has a price (derived: costing a chat answer skips them)
    per_unit: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_unit", any(
            v is not None for v in (self.image, self.second, self.characters, self.request)))

    def to_json(self) -> dict[str, float]:
        return {k: v for k in _PRICE_UNITS if (v := getattr(self, k)) is not None}

    @classmethod
    def from_json(cls, raw: Any) -> Pricing | None:
        """From the data file, the Hub or the config: the units it names (numbers only), None if none."""
        if not isinstance(raw, dict):
            return None
        values = {k: float(v) for k in _PRICE_UNITS if isinstance(v := raw.get(k), int | float)
                  and not isinstance(v, bool)}
        return cls(**values) if values else None


_PRICE_UNITS = ("input", "output", "cached_input", "image", "second", "characters", "request")


@dataclass(slots=True, frozen=True)
class ProviderMapping:
    provider: str
    provider_id: str
    task: str = CONVERSATIONAL
    status: str = "live"
    pricing: Pricing | None = None
    context_length: int | None = None
    supports_tools: bool | None = None
    supports_structured_output: bool | None = None
    #: published output throughput, tokens/s (used by :fastest until live figures exist)
    throughput: float | None = None
    #: published time to first token, seconds
    latency: float | None = None
    adapter: str | None = None
    adapter_weights_path: str | None = None
    #: where the mapping came from: "builtin" (data file), "hub" (live look-up) or "config"
    source: str = "builtin"

    @property
    def usable(self) -> bool:
        return self.status != "error"


@dataclass(slots=True)
class ModelEntry:
    id: str
    task: str
    providers: list[ProviderMapping] = field(default_factory=list)
    owned_by: str | None = None
    created: int | None = None

    def mapping(self, provider: str) -> ProviderMapping | None:
        for m in self.providers:
            if m.provider == provider:
                return m
        return None

    def merged(self, newer: Iterable[ProviderMapping], *, first: bool) -> ModelEntry:
        """A copy where `newer` mappings replace same-provider ones; `first` puts them in front."""
        newer = list(newer)
        names = {m.provider for m in newer}
        rest = [m for m in self.providers if m.provider not in names]
        providers = newer + rest if first else [
            next((n for n in newer if n.provider == m.provider), m) for m in self.providers
        ] + [n for n in newer if self.mapping(n.provider) is None]
        return replace(self, providers=providers)


def mapping_from_json(provider: str, raw: dict[str, Any], default_task: str) -> ProviderMapping:
    """One provider mapping from the data file or the Hub (camelCase or snake_case keys)."""
    pricing = raw.get("pricing")
    return ProviderMapping(
        provider=provider,
        provider_id=str(raw.get("providerId") or raw.get("provider_id") or ""),
        task=str(raw.get("task") or default_task),
        status=str(raw.get("status") or "live"),
        pricing=Pricing.from_json(pricing),
        context_length=raw.get("context_length") or raw.get("contextLength"),
        supports_tools=raw.get("supports_tools", raw.get("supportsTools")),
        supports_structured_output=raw.get("supports_structured_output", raw.get("supportsStructuredOutput")),
        throughput=raw.get("throughput"),
        latency=raw.get("latency"),
        adapter=raw.get("adapter"),
        adapter_weights_path=raw.get("adapterWeightsPath") or raw.get("adapter_weights_path"),
    )


class Catalog:
    """The merged, in-memory catalog. Reads are plain dict look-ups; no I/O on the request path
    except through `hubroute.hub.HubCatalog`, which wraps this class with bounded live look-ups."""

    def __init__(self, entries: Iterable[ModelEntry] = ()) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._lower: dict[str, str] = {}
        self._by_provider_id: dict[tuple[str, str], tuple[ModelEntry, ProviderMapping]] | None = None
        for entry in entries:
            self.put(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())

    def get(self, model_id: str) -> ModelEntry | None:
        entry = self._entries.get(model_id)
        if entry is None:
            # Hub ids are case-insensitive; accept `meta-llama/llama-3.3-70b-instruct`
            canonical = self._lower.get(model_id.lower())
            entry = self._entries.get(canonical) if canonical else None
        return entry

    async def resolve(self, model_id: str) -> ModelEntry | None:
        """The routing interface (see hubroute.routing.router.CatalogSource): no live look-ups here."""
        return self.get(model_id)

    def put(self, entry: ModelEntry) -> None:
        self._entries[entry.id] = entry
        self._lower[entry.id.lower()] = entry.id
        self._by_provider_id = None

    def find_mapping(self, provider: str, provider_id: str) -> tuple[ModelEntry, ProviderMapping] | None:
        """The entry and mapping under which `provider` serves `provider_id` (a provider-native
        request names the provider's own id). The index is built on first use after a change."""
        index = self._by_provider_id
        if index is None:
            index = self._by_provider_id = {
                (m.provider, m.provider_id): (entry, m) for entry in self._entries.values() for m in entry.providers
            }
        return index.get((provider, provider_id))

    def merge(self, entry: ModelEntry, *, first: bool = False) -> ModelEntry:
        """Fold `entry`'s mappings into the existing entry for its id (or add it)."""
        current = self.get(entry.id)
        merged = entry if current is None else current.merged(entry.providers, first=first)
        if current is not None and entry.task and entry.task != current.task and first:
            merged = replace(merged, task=entry.task)
        self.put(merged)
        return merged

    # --- sources --------------------------------------------------------------------------------
    @classmethod
    def builtin(cls) -> Catalog:
        """The data files: chat models (`catalog.json`) and the models of every other task (`tasks.json`)."""
        files = resources.files("hubroute.data")
        return cls([entry for name in ("catalog.json", "tasks.json")
                    for entry in entries_from_json(orjson.loads(files.joinpath(name).read_bytes()))])

    def add_config_models(self, models: Iterable[ModelSettings]) -> None:
        for model in models:
            mappings = [
                ProviderMapping(
                    provider=p.provider,
                    provider_id=p.provider_id or model.id,
                    task=p.task or model.task,
                    status=p.status,
                    pricing=Pricing.from_json(msgspec.to_builtins(p.pricing)) if p.pricing else None,
                    context_length=p.context_length,
                    supports_tools=p.supports_tools,
                    supports_structured_output=p.supports_structured_output,
                    source="config",
                )
                for p in model.providers
            ]
            self.merge(ModelEntry(id=model.id, task=model.task, providers=mappings), first=True)


def entries_from_json(data: dict[str, Any]) -> list[ModelEntry]:
    """Parse the data file: {"models": [{"id", "task", "providers": {name: mapping}}]}."""
    out = []
    for raw in data.get("models", []):
        task = raw.get("task", CONVERSATIONAL)
        providers = raw.get("providers") or {}
        items = providers.items() if isinstance(providers, dict) else ((p["provider"], p) for p in providers)
        out.append(
            ModelEntry(
                id=raw["id"],
                task=task,
                providers=[mapping_from_json(name, m, task) for name, m in items],
                owned_by=raw.get("owned_by") or raw["id"].split("/")[0],
                created=raw.get("created"),
            )
        )
    return out
