"""Which providers this deployment can reach, and how: provider keys, Hugging Face's router, custom
OpenAI-compatible servers, and the deployments named by aliases and LiteLLM's `model_list`.

For a provider P the endpoint is, in order:
1. P's own key (config `providers.P.api_key`, else P's usual environment variable): a direct call to
   the config's `base_url` or P's public API root;
2. else, when an HF token is configured and Hugging Face's router serves P:
   `{huggingface.base_url}/P` with the HF token;
3. else P is not reachable, and is skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hubroute.config import Settings
from hubroute.errors import ConfigError, register_secret
from hubroute.providers import REGISTRY, Endpoint, OpenAICompatible, Provider
from hubroute.routing.names import ModelName, parse_model_name


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
        #: the config's OpenAI-compatible servers, in config order
        self.custom: list[str] = []
        self.disabled: set[str] = set()
        hf = settings.huggingface
        self.hf_token = hf.token
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
                self.providers[name] = OpenAICompatible(name=name, base_url=conf.base_url)
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
        self.aliases: dict[str, list[Deployment]] = {}
        for alias, target in settings.aliases.items():
            self.aliases[alias] = [self._deployment(parse_model_name(target, self.known()))]
        for i, entry in enumerate(settings.model_list):
            dep = self._litellm_deployment(i, entry.litellm_params.model, entry.litellm_params.api_key,
                                           entry.litellm_params.api_base)
            self.aliases.setdefault(entry.model_name, []).append(dep)

    def known(self) -> frozenset[str]:
        if len(self._known) != len(self.providers):  # providers are only ever added
            self._known = frozenset(self.providers)
        return self._known

    def provider(self, name: str) -> Provider | None:
        return None if name in self.disabled else self.providers.get(name)

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
            return Endpoint(provider.base_url, key)
        if key and base:
            return Endpoint(base, key)
        if self.hf_token and provider.hf_routed:
            return Endpoint(f"{self.hf_base}/{name}", self.hf_token, via_hf=True)
        return None

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

    def _custom(self, base_url: str) -> str:
        """Register an OpenAI-compatible upstream named after its host (shown in x-inference-provider)."""
        name = urlsplit(base_url).netloc or base_url
        self.providers.setdefault(name, OpenAICompatible(name=name, base_url=base_url))
        return name

    def _litellm_deployment(self, i: int, model: str, api_key: str | None, api_base: str | None) -> Deployment:
        key = f"model_list[{i}].litellm_params.model"
        prefix, _, rest = model.partition("/")
        if prefix == "huggingface" and rest:
            if rest == "tgi" or rest.startswith(("http://", "https://")):
                base = api_base or rest
                if not base.startswith(("http://", "https://")):
                    raise ConfigError(f"model_list[{i}].litellm_params.api_base", "is required for huggingface/tgi")
                name = self._custom(base)
                return Deployment(model=model, provider=name, provider_model="tgi",
                                  endpoint=Endpoint(self.providers[name].base_url or base, api_key))
            first, _, after = rest.partition("/")
            if first in self.providers and after.count("/") == 1:
                endpoint = None
                if api_key:
                    endpoint = self._keyed_endpoint(first, api_key, api_base)
                return Deployment(model=after, provider=first, endpoint=endpoint)
            if rest.count("/") != 1:
                raise ConfigError(key, f"'{model}' is not huggingface/<provider>/<org>/<model> or "
                                       "huggingface/<org>/<model>")
            parsed = parse_model_name(rest, self.known())
            return Deployment(model=parsed.model, provider=parsed.provider, policy=parsed.policy)
        if prefix == "openai" and rest:
            if api_base:
                name = self._custom(api_base)
                return Deployment(model=rest, provider=name, provider_model=rest,
                                  endpoint=Endpoint(self.providers[name].base_url or api_base, api_key))
            openai = self.providers.get("openai")
            endpoint = Endpoint(openai.base_url, api_key) if api_key and openai and openai.base_url else None
            return Deployment(model=rest, provider="openai", provider_model=rest, endpoint=endpoint)
        raise ConfigError(key, f"'{model}': hubroute accepts huggingface/... and openai/... models here")

    def _keyed_endpoint(self, provider: str, api_key: str, api_base: str | None) -> Endpoint:
        adapter = self.providers[provider]
        if api_base:
            return Endpoint(api_base, api_key)
        if api_key.startswith("hf_") and adapter.hf_routed:
            return Endpoint(f"{self.hf_base}/{provider}", api_key, via_hf=True)
        if adapter.base_url:
            return Endpoint(adapter.base_url, api_key)
        return Endpoint(f"{self.hf_base}/{provider}", api_key, via_hf=True)

    def deployments(self, name: str) -> list[Deployment]:
        found = self.aliases.get(name) or self._deployments.get(name)
        if found is None:
            found = [self._deployment(parse_model_name(name, self.known()))]  # raises on a bad name
            if len(self._deployments) >= 4096:
                self._deployments.clear()
            self._deployments[name] = found
        return found
