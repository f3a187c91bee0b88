"""Which providers this deployment can reach, and how: provider keys, Hugging Face's router, custom
OpenAI-compatible servers, and the deployments named by aliases and LiteLLM's `model_list`.

For a provider P the endpoint is, in order:
1. P's own key (config `providers.P.api_key`, else P's usual environment variable): a direct call to
   the config's `base_url` or P's public API root;
2. else, when an HF token is configured and Hugging Face's router serves P:
   `{huggingface.base_url}/P` with the HF token;
3. else P is not reachable, and is skipped with that reason.

A `type: openai-compatible` provider of the config serves the ids its own `GET /v1/models` lists
(`routing.discovery`, attached as `discovery` by the engine), those `models:` maps to it, and any
id pinned to it with `:name`. A LiteLLM `model_list` entry pointing at a server of its own
(`huggingface/tgi` or `openai/<id>` with `api_base`) is a provider named after the entry (`my-tgi`,
then `my-tgi-2`, ...), or after the configured provider with the same `base_url`.

Mistakes in the config that only this module can see (an unknown provider named in `models:`, an
alias naming an unknown provider or policy, a `model_list` model hubroute cannot serve) are
`ConfigError`s naming the key, raised when the engine is built, before the router starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubroute.config import Settings
from hubroute.errors import ConfigError, InvalidRequest, register_secret
from hubroute.providers import REGISTRY, Endpoint, OpenAICompatible, Provider
from hubroute.providers._openai_compat import api_root
from hubroute.routing import litellm
from hubroute.routing.names import ModelName, parse_model_name

if TYPE_CHECKING:
    from hubroute.routing.discovery import Discovery


@dataclass(slots=True, frozen=True)
class Deployment:
    """One way to serve a requested name: a Hub model (through the catalog) or a fixed upstream."""

    model: str
    provider: str | None = None
    policy: str | None = None
    #: send this id unchanged instead of asking the catalog
    provider_model: str | None = None
    #: credentials of this deployment only (LiteLLM `api_key` / `api_base`)
    endpoint: Endpoint | None = None


class Upstreams:
    def __init__(self, settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
        self.settings = settings
        self.environ = environ
        self.providers: dict[str, Provider] = dict(REGISTRY)
        self._known: frozenset[str] = frozenset()
        self._endpoints: dict[str, Endpoint | None] = {}
        #: requested name -> its deployments (names come from clients: bounded, cleared when full)
        self._deployments: dict[str, list[Deployment]] = {}
        #: the config's OpenAI-compatible servers (enabled ones), in config order
        self.custom: list[str] = []
        #: what those servers list at `GET /v1/models` (set by the engine when there are any)
        self.discovery: Discovery | None = None
        self.disabled: set[str] = set()
        hf = settings.huggingface
        self.hf_token = hf.token
        self.hub_url = settings.hub_url
        register_secret(hf.token)
        register_secret(settings.server.master_key)
        for conf in settings.providers.values():
            register_secret(conf.api_key)
        for entry in settings.model_list:
            register_secret(entry.litellm_params.api_key)
        self.hf_base = hf.base_url.rstrip("/")
        for name, conf in settings.providers.items():
            if conf.type == "openai-compatible":
                assert conf.base_url is not None  # checked by Settings.validate
                self.providers[name] = OpenAICompatible(name=name, base_url=conf.base_url,
                                                        tool_id_length=conf.tool_id_length)
                if conf.enabled:
                    self.custom.append(name)
            elif name not in REGISTRY:
                known = ", ".join(sorted(REGISTRY))
                raise ConfigError(
                    f"providers.{name}",
                    f"unknown provider (known: {known}); add `type: openai-compatible` and `base_url` "
                    "for a custom OpenAI-compatible server",
                )
            if not conf.enabled:
                self.disabled.add(name)
        #: (custom server, lower-cased model id) pairs that `models:` maps
        self._mapped: set[tuple[str, str]] = set()
        self._check_models()
        self.aliases: dict[str, list[Deployment]] = {}
        for alias, target in settings.aliases.items():
            try:
                self.aliases[alias] = [self._deployment(parse_model_name(target, self.known()))]
            except InvalidRequest as exc:
                raise ConfigError(f"aliases.{alias}", exc.message) from None
        for i, entry in enumerate(settings.model_list):
            params = entry.litellm_params
            try:
                dep = self._litellm_deployment(entry.model_name, params.model, params.api_key, params.api_base)
            except InvalidRequest as exc:
                raise ConfigError(f"model_list[{i}].litellm_params.{exc.param or 'model'}", exc.message) from None
            self.aliases.setdefault(entry.model_name, []).append(dep)

    def _check_models(self) -> None:
        """Every provider a `models:` entry names must exist (a typo would silently serve nothing)."""
        for i, model in enumerate(self.settings.models):
            for j, mapping in enumerate(model.providers):
                name = mapping.provider
                if name not in self.providers:
                    configured = ", ".join(self.settings.providers) or "none"
                    raise ConfigError(
                        f"models[{i}].providers[{j}].provider",
                        f"unknown provider '{name}' (built-in: {', '.join(sorted(REGISTRY))}; "
                        f"configured: {configured})",
                    )
                if name in self.custom:
                    self._mapped.add((name, model.id.lower()))

    def known(self) -> frozenset[str]:
        if len(self._known) != len(self.providers):  # providers are only ever added
            self._known = frozenset(self.providers)
        return self._known

    def provider(self, name: str) -> Provider | None:
        return None if name in self.disabled else self.providers.get(name)

    def is_custom(self, name: str) -> bool:
        """Whether `name` is an (enabled) OpenAI-compatible server of the config: one that takes any
        id pinned to it."""
        return name in self.custom

    def maps(self, provider: str, model: str) -> bool:
        """Whether the config's `models:` maps `model` to the custom server `provider`."""
        return (provider, model.lower()) in self._mapped

    async def ready(self) -> None:
        """Until the custom servers' model lists have been read once (at once after that)."""
        discovery = self.discovery
        if discovery is not None and not discovery.ready:
            await discovery.wait()

    def endpoint(self, name: str) -> Endpoint | None:
        """How `name` is reached, or None when it cannot be (no key, no HF route, disabled).
        Keys are read once: the environment does not change under a running router."""
        try:
            return self._endpoints[name]
        except KeyError:
            endpoint = self._endpoints[name] = self._resolve_endpoint(name)
            return endpoint

    def _resolve_endpoint(self, name: str) -> Endpoint | None:
        provider = self.provider(name)
        if provider is None:
            return None
        conf = self.settings.providers.get(name)
        key = (conf.api_key if conf else None) or provider.env_api_key(self.environ)
        base = (conf.base_url if conf and conf.base_url else None) or provider.base_url
        register_secret(key)
        if isinstance(provider, OpenAICompatible):
            assert provider.base_url is not None
            return self._endpoint(provider.base_url, key)
        if key and base:
            return self._endpoint(base, key)
        if self.hf_token and provider.hf_routed:
            return self._endpoint(f"{self.hf_base}/{name}", self.hf_token, via_hf=True)
        return None

    def keyless(self, name: str) -> Endpoint | None:
        """How `name` would be reached with a caller's own key when this deployment cannot reach it
        (no key of its own, no HF route): its public API, the key to come; None when it has none."""
        base = self.direct_base(name)
        return None if base is None else self._endpoint(base, None)

    def direct_base(self, name: str) -> str | None:
        """Where `name` is called directly (its configured `base_url`, else its public API); None when
        only Hugging Face's router reaches it."""
        provider = self.provider(name)
        if provider is None:
            return None
        conf = self.settings.providers.get(name)
        return (conf.base_url if conf and conf.base_url else None) or provider.base_url

    def _endpoint(self, base_url: str, api_key: str | None, *, via_hf: bool = False) -> Endpoint:
        return Endpoint(base_url, api_key, via_hf=via_hf, hub_url=self.hub_url)

    def why_unreachable(self, name: str) -> str:
        provider = self.providers.get(name)
        if provider is None:
            return "not a provider hubroute knows"
        if name in self.disabled:
            return "disabled in config"
        keys = " or ".join(provider.env_keys) or f"providers.{name}.api_key"
        if provider.hf_routed:
            return f"no credentials (set {keys}, or an HF token)"
        return f"no credentials (set {keys}; Hugging Face's router does not serve it)"

    # --- deployments ----------------------------------------------------------------------------
    def _deployment(self, name: ModelName) -> Deployment:
        return Deployment(model=name.model, provider=name.provider, policy=name.policy)

    def _server(self, entry_name: str, base_url: str) -> str:
        """The provider that a `model_list` entry's own server is: the configured OpenAI-compatible
        provider with that base URL, else one named after the entry (`my-tgi`, `my-tgi-2`, ...).
        That name is what `x-inference-provider`, errors and metrics show."""
        root = api_root(base_url)
        for name in self.custom:
            if self.providers[name].base_url == root:
                return name
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", entry_name).strip("-._") or "server"
        name, n = stem, 1
        while name in self.providers or name in self.settings.providers:
            existing = self.providers.get(name)
            if isinstance(existing, OpenAICompatible) and existing.base_url == root \
                    and name not in self.settings.providers:
                return name  # another deployment of the same entry name on the same server
            n += 1
            name = f"{stem}-{n}"
        self.providers[name] = OpenAICompatible(name=name, base_url=base_url)
        return name

    def _litellm_deployment(self, entry_name: str, model: str, api_key: str | None,
                            api_base: str | None) -> Deployment:
        """A `model_list` entry's deployment (LiteLLM's names: `routing.litellm`)."""
        name = litellm.parse(model, api_base, self.known())
        if name.server is not None:
            provider = self._server(entry_name, name.server)
            base = self.providers[provider].base_url or name.server
            return Deployment(model=model if name.model == litellm.TGI_ID else name.model, provider=provider,
                              provider_model=name.model, endpoint=self._endpoint(base, api_key))
        if name.provider == "openai":
            openai = self.providers.get("openai")
            endpoint = self._endpoint(openai.base_url, api_key) if api_key and openai and openai.base_url else None
            return Deployment(model=name.model, provider="openai", provider_model=name.model, endpoint=endpoint)
        if name.provider is not None:
            endpoint = self._keyed_endpoint(name.provider, api_key, api_base) if api_key else None
            return Deployment(model=name.model, provider=name.provider, endpoint=endpoint)
        return self._deployment(parse_model_name(name.model, self.known()))

    def _keyed_endpoint(self, provider: str, api_key: str, api_base: str | None) -> Endpoint:
        adapter = self.providers[provider]
        if api_base:
            return self._endpoint(api_base, api_key)
        if api_key.startswith("hf_") and adapter.hf_routed:
            return self._endpoint(f"{self.hf_base}/{provider}", api_key, via_hf=True)
        if adapter.base_url:
            return self._endpoint(adapter.base_url, api_key)
        return self._endpoint(f"{self.hf_base}/{provider}", api_key, via_hf=True)

    def deployments(self, name: str) -> list[Deployment]:
        found = self.aliases.get(name) or self._deployments.get(name)
        if found is None:
            try:
                parsed = parse_model_name(name, self.known())
            except InvalidRequest:
                # an id a server listed with a colon of its own (Ollama's `llama3.2:latest`)
                if self.discovery is None or not isinstance(name, str) or not self.discovery.knows(name.strip()):
                    raise
                parsed = ModelName(name.strip())
            found = [self._deployment(parsed)]
            if len(self._deployments) >= 4096:
                self._deployments.clear()
            self._deployments[name] = found
        return found
