"""The configuration file (YAML), validated at start.

Every problem is reported as a `ConfigError` naming the dotted key and what is wrong with it; the CLI
prints that one line and exits 2, never a traceback. Values of the form `os.environ/NAME` are read
from the environment; a variable that is named but not set is an error (a silently missing master
key would open the router to anyone).

With no file at all, `Settings.from_env()` gives a router on 127.0.0.1:8080 with provider keys and
HF_TOKEN read from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from hubroute.errors import ConfigError
from hubroute.inputs.fetch import InputSettings
from hubroute.task_names import CONVERSATIONAL

ENV_PREFIX = "os.environ/"
DEFAULT_HF_ROUTER = "https://router.huggingface.co"
DEFAULT_HUB = "https://huggingface.co"
Policy = Literal["fastest", "cheapest", "preferred"]
POLICIES: tuple[str, ...] = ("fastest", "cheapest", "preferred")
#: the shortest `store.ledger_retention_days`: a calendar month and a day (budgets read a period's
#: spending from the ledger: a `month` budget must find its whole month there)
MIN_LEDGER_RETENTION_DAYS = 32


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = 8080
    master_key: str | None = None
    #: listen on a non-loopback address with no key configured (refused unless set)
    allow_unauthenticated: bool = False
    #: seconds given to in-flight requests (streams included) after SIGTERM
    shutdown_timeout: float = 30.0
    #: router processes on the one port (`hubroute serve --workers N`), the kernel balancing connections
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 1
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: largest accepted request body, bytes (413 beyond)
    max_request_bytes: int = 32 * 1024 * 1024
    #: seconds a request body that comes in pieces may take to arrive (408 beyond)
    body_timeout: float = 30.0
    #: `fast`: our own HTTP/1.1 code (server/http.py, h1.py); `stock`: uvicorn's httptools protocol
    #: and aiohttp, the fallback should ours misbehave (same behaviour, more CPU per request)
    http_stack: Literal["fast", "stock"] = "fast"
    #: seconds an idle kept-alive client connection stays open
    keep_alive_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    #: seconds a new connection may stay silent (closed beyond)
    idle_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    #: seconds a request's head may take from its first byte (408 beyond)
    header_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    #: open client connections per process (default: half the file-descriptor limit); beyond, the least
    #: recently used one with no request in progress is closed, or the new one gets 503
    max_connections: Annotated[int, msgspec.Meta(ge=1)] | None = None
    #: one header line, bytes (431 beyond; 414 for a request target as long)
    max_header_line_bytes: Annotated[int, msgspec.Meta(ge=256)] = 16 * 1024
    #: a request's whole head (request line and headers), bytes (431 beyond)
    max_head_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 64 * 1024
    #: header lines in one request (431 beyond)
    max_header_count: Annotated[int, msgspec.Meta(ge=1)] = 100


class HuggingFaceSettings(_Strict):
    token: str | None = None
    base_url: str = DEFAULT_HF_ROUTER
    #: the Hub API, for live provider mappings (defaults to $HF_ENDPOINT or https://huggingface.co)
    hub_url: str | None = None
    live_catalog: bool = True
    catalog_ttl: float = 600.0
    catalog_negative_ttl: float = 60.0
    #: longest a request waits on a slow Hub before going on with what it knows
    catalog_wait: float = 1.5


class ProviderSettings(_Strict):
    api_key: str | None = None
    base_url: str | None = None
    type: Literal["builtin", "openai-compatible"] = "builtin"
    enabled: bool = True
    #: an OpenAI-compatible server that takes only tool-call ids of exactly this many letters and
    #: digits (vLLM serving a Mistral model: 9); ids of other shapes are rewritten for it
    tool_id_length: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None


class PricingSettings(_Strict):
    """USD: per 1M tokens (`input`, `output`, `cached_input`), or per the unit a task bills by
    (`image`, `second` of audio or video, 1M `characters`, `request`); see `catalog.Pricing`."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    image: float | None = None
    second: float | None = None
    characters: float | None = None
    request: float | None = None


class ModelProviderSettings(_Strict):
    provider: str
    provider_id: str | None = None
    status: Literal["live", "staging", "error"] = "live"
    task: str | None = None
    pricing: PricingSettings | None = None
    context_length: int | None = None
    supports_tools: bool | None = None
    supports_structured_output: bool | None = None


class ModelSettings(_Strict):
    id: str
    task: str = CONVERSATIONAL
    providers: list[ModelProviderSettings] = msgspec.field(default_factory=list)


class LiteLLMParams(msgspec.Struct, omit_defaults=True):  # LiteLLM has many keys; unknown ones pass
    model: str
    api_key: str | None = None
    api_base: str | None = None


class LiteLLMModel(msgspec.Struct, omit_defaults=True):
    model_name: str
    litellm_params: LiteLLMParams


class TimeoutSettings(_Strict):
    connect: float = 10.0
    first_byte: float = 60.0
    idle: float = 120.0


class BreakerSettings(_Strict):
    #: consecutive failures that open the circuit for a provider x model
    failures: int = 5
    #: seconds before an open circuit lets one probe request through
    cooldown: float = 30.0


class RoutingSettings(_Strict):
    default_policy: Policy = "fastest"
    #: provider order for `:preferred` (providers not listed follow in catalog order)
    preferred: list[str] = msgspec.field(default_factory=list)
    max_attempts: int = 3
    #: overall seconds one request may spend across all its attempts
    deadline: float = 180.0
    #: longest pause, in seconds, a provider's `Retry-After` may put on a provider x model (0: ignored)
    max_retry_after: float = 300.0
    timeouts: TimeoutSettings = msgspec.field(default_factory=TimeoutSettings)
    circuit_breaker: BreakerSettings = msgspec.field(default_factory=BreakerSettings)
    #: largest server-sent event read from a provider's stream, bytes: beyond it the stream fails
    #: (before its first event, as a failover; after, as one error event to the client)
    max_event_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    #: largest answer read whole from a provider (a completion, embeddings, a job's status or result
    #: document with base64 media inside), bytes: beyond it the attempt fails (and the next provider is tried)
    max_answer_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 128 * 1024 * 1024


class JobSettings(_Strict):
    """Bounds of the tasks a provider runs as a job (submit, poll its status, fetch the result):
    fal-ai's queue, replicate's predictions, black-forest-labs, video generation..."""

    #: seconds before the first status poll; each wait then grows by half, up to `max_poll_interval`
    poll_interval: float = 1.0
    max_poll_interval: float = 10.0
    #: seconds one job may take from submission to result, and the most status polls it may use;
    #: beyond either the attempt fails as a timeout (and the next provider is tried)
    max_wait: float = 600.0
    max_polls: int = 600
    #: largest result accepted (a generated image, audio or video, or a downloaded result URL)
    max_result_bytes: int = 512 * 1024 * 1024


class DiscoverySettings(_Strict):
    """How the models of each `type: openai-compatible` provider are learnt: its `GET /v1/models`,
    read at start and then in the background (a failure is logged, never fatal: the provider keeps
    serving what it listed last, what `models:` maps to it, and any id pinned to it)."""

    #: seconds between two reads (0: read once, at start)
    refresh: float = 60.0
    #: seconds one read may take
    timeout: float = 5.0
    #: ids kept per provider (the rest are ignored, with a warning)
    max_models: int = 1000


class StoreSettings(_Strict):
    """The database of accounts, keys and usage (`hubroute.store`)."""

    #: `sqlite:///path/to/file.db` or `postgresql://user:password@host/db`; default: hubroute.db in
    #: `$HUBROUTE_HOME` (else `$XDG_DATA_HOME/hubroute`, else `~/.local/share/hubroute`)
    url: str | None = None
    #: false: no database at all (no stored keys, no ledger): a stateless router
    enabled: bool = True
    #: seconds between two writes of the usage ledger (what a hard kill may lose; SIGTERM loses nothing)
    flush_interval: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    #: where ledger rows wait while the database cannot be written (default: `$HUBROUTE_HOME`)
    spill_dir: str | None = None
    #: days the usage ledger keeps its rows, older ones deleted hourly (`store.retention`); at least
    #: 32, so that a `month` budget sees its whole month; unset: kept for ever (no billing record is
    #: deleted unless asked)
    ledger_retention_days: Annotated[float, msgspec.Meta(le=36_500)] | None = None
    #: PostgreSQL's usage ledger is partitioned by time, a partition a calendar `month` (UTC) or a
    #: `day`; the retention drops whole partitions, so a row is kept up to one partition longer than
    #: `ledger_retention_days` (`day` suits a ledger of many millions of rows a day). SQLite: unused
    ledger_partition: Literal["month", "day"] = "month"


class RedisSettings(_Strict):
    """What router processes and instances share (`store.shared_limits`): rate limits, concurrency."""

    #: `redis://[:password@]host:port/db`, `rediss://...` (TLS) or `unix:///path`; none: each process
    #: keeps its own counters (and `--workers N` refuses to start with limits, budgets or credits)
    url: str | None = None
    #: when Redis cannot be reached, rate limits let requests through (`open`) or refuse them with
    #: 503 (`closed`); credits and budgets always refuse
    on_error: Literal["open", "closed"] = "open"
    #: the prefix of every key hubroute writes (several deployments can share one Redis)
    prefix: str = "hubroute:"
    #: seconds a command may take before Redis counts as unreachable
    timeout: Annotated[float, msgspec.Meta(gt=0, le=30)] = 1.0
    #: seconds a request's concurrency place outlives a router that stops renewing it (one that died)
    lease: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 10.0
    #: routers tell each other the circuits they open, the pauses providers ask for and their speed
    #: figures (`store.shared_health`): one router's discovery that a provider is down spares the others
    share_health: bool = True


class AccountsSettings(_Strict):
    #: the secret that seals the provider keys users and organisations bring (default:
    #: $HUBROUTE_ENCRYPTION_KEY); without it such keys can be neither stored nor used
    encryption_key: str | None = None


class BillingSettings(_Strict):
    """What requests made with stored keys cost their accounts (`server.billing`)."""

    #: prepaid credits: a request's worst case must be covered by the billed account's balance (402)
    credits: bool = False
    #: the operator's markup on the providers' prices (0.1: 10%), in what is charged and budgeted
    markup: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    #: output tokens a request that sets no max_tokens is reserved for
    default_max_tokens: Annotated[int, msgspec.Meta(ge=1)] = 4096


class ResponsesSettings(_Strict):
    """The Responses API (`POST /v1/responses`)."""

    #: days a stored response (`store: true`) is kept for `previous_response_id` and `GET`
    retention_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    #: hosts whose remote MCP servers a request's `mcp` tools may name (empty: none, MCP tools refused);
    #: `inputs:`'s address rules hold for them too
    mcp_allowed_hosts: list[str] = msgspec.field(default_factory=list)


class Settings(_Strict):
    """The whole config file. `inputs:` sets how binary task inputs given as URLs are fetched
    (size, time, and the address rules that keep the router from fetching private addresses)."""

    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    huggingface: HuggingFaceSettings = msgspec.field(default_factory=HuggingFaceSettings)
    providers: dict[str, ProviderSettings] = msgspec.field(default_factory=dict)
    models: list[ModelSettings] = msgspec.field(default_factory=list)
    model_list: list[LiteLLMModel] = msgspec.field(default_factory=list)
    #: alias -> model name (`org/model`, `org/model:provider`, `org/model:cheapest`, ...)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    routing: RoutingSettings = msgspec.field(default_factory=RoutingSettings)
    discovery: DiscoverySettings = msgspec.field(default_factory=DiscoverySettings)
    jobs: JobSettings = msgspec.field(default_factory=JobSettings)
    inputs: InputSettings = msgspec.field(default_factory=InputSettings)
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    billing: BillingSettings = msgspec.field(default_factory=BillingSettings)
    accounts: AccountsSettings = msgspec.field(default_factory=AccountsSettings)
    redis: RedisSettings = msgspec.field(default_factory=RedisSettings)
    responses: ResponsesSettings = msgspec.field(default_factory=ResponsesSettings)

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings of a router started with no config file."""
        settings = cls()
        _apply_env_defaults(settings, environ)
        settings.validate()
        return settings

    @classmethod
    def load(cls, path: str | Path, environ: Mapping[str, str] = os.environ) -> Settings:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("", f"cannot read {path}: {exc.strerror or exc}") from None
        return cls.parse(text, environ, source=str(path))

    @classmethod
    def parse(cls, text: str, environ: Mapping[str, str] = os.environ, source: str = "<config>") -> Settings:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError("", f"{source} is not valid YAML{where}: {problem}") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError("", f"{source} must be a mapping of sections (server, providers, models, ...)")
        raw = _resolve_env(raw, environ, "")
        # msgspec names a dict entry "[...]"; check named entries one by one to name them.
        providers = raw.get("providers")
        if isinstance(providers, dict):
            for name, value in providers.items():
                try:
                    msgspec.convert(value, ProviderSettings, strict=False)
                except msgspec.ValidationError as exc:
                    raise _config_error(str(exc), prefix=f"providers.{name}") from None
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise _config_error(str(exc)) from None
        _apply_env_defaults(settings, environ)
        settings.validate()
        return settings

    def validate(self) -> None:
        key = self.accounts.encryption_key
        if key is not None and len(key) < 16:
            raise ConfigError("accounts.encryption_key", "must be at least 16 characters (a long random string)")
        if self.store.url is not None:
            from hubroute.store import driver_url

            driver_url(self.store.url)  # a ConfigError naming store.url when it is no database URL
        days = self.store.ledger_retention_days
        if days is not None and not days >= MIN_LEDGER_RETENTION_DAYS:  # (NaN too)
            raise ConfigError("store.ledger_retention_days", f"{days:g} days is shorter than a `month` budget's "
                              f"period: at least {MIN_LEDGER_RETENTION_DAYS} (budgets read what they spent from "
                              "the ledger), or unset to keep everything")
        if self.redis.url is not None:
            from hubroute.store.redislink import Address

            try:
                Address.parse(self.redis.url)
            except ValueError as exc:
                raise ConfigError("redis.url", str(exc)) from None
        if not 0 < self.server.port < 65536:
            raise ConfigError("server.port", f"{self.server.port} is not a TCP port")
        if self.server.master_key is not None and len(self.server.master_key) < 8:
            raise ConfigError("server.master_key", "must be at least 8 characters")
        if self.routing.max_attempts < 1:
            raise ConfigError("routing.max_attempts", "must be at least 1")
        for key in ("deadline",):
            if getattr(self.routing, key) <= 0:
                raise ConfigError(f"routing.{key}", "must be positive")
        if not 0 <= self.routing.max_retry_after < float("inf"):
            raise ConfigError("routing.max_retry_after", "must be 0 (ignore Retry-After) or a positive number")
        for key in ("connect", "first_byte", "idle"):
            if getattr(self.routing.timeouts, key) <= 0:
                raise ConfigError(f"routing.timeouts.{key}", "must be positive")
        for key in ("poll_interval", "max_poll_interval", "max_wait", "max_polls", "max_result_bytes"):
            if getattr(self.jobs, key) <= 0:
                raise ConfigError(f"jobs.{key}", "must be positive")
        if self.discovery.refresh < 0:
            raise ConfigError("discovery.refresh", "must be 0 (read once) or positive")
        for key in ("timeout", "max_models"):
            if getattr(self.discovery, key) <= 0:
                raise ConfigError(f"discovery.{key}", "must be positive")
        for name, prov in self.providers.items():
            if prov.type == "openai-compatible" and not prov.base_url:
                raise ConfigError(f"providers.{name}.base_url", "is required for an openai-compatible provider")
            if prov.base_url is not None:
                _check_url(f"providers.{name}.base_url", prov.base_url)
        _check_url("huggingface.base_url", self.huggingface.base_url)
        for i, model in enumerate(self.models):
            if not model.id:
                raise ConfigError(f"models[{i}].id", "must not be empty")
        for i, entry in enumerate(self.model_list):
            if not entry.litellm_params.model:
                raise ConfigError(f"model_list[{i}].litellm_params.model", "must not be empty")
        for policy in self.routing.preferred:
            if not policy:
                raise ConfigError("routing.preferred", "provider names must not be empty")

    @property
    def hub_url(self) -> str:
        return (self.huggingface.hub_url or DEFAULT_HUB).rstrip("/")


#: where an HF token is looked for when the config names none, in order
HF_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_API_KEY", "HUGGINGFACE_API_TOKEN")


def _apply_env_defaults(settings: Settings, environ: Mapping[str, str]) -> None:
    hf = settings.huggingface
    if hf.token is None:
        # HF's own variables, then LiteLLM's (its Hugging Face docs set HUGGINGFACE_API_KEY)
        hf.token = next((environ[v] for v in HF_TOKEN_VARIABLES if environ.get(v)), None)
    if hf.hub_url is None:
        hf.hub_url = environ.get("HF_ENDPOINT") or DEFAULT_HUB
    if settings.server.master_key is None:
        settings.server.master_key = environ.get("HUBROUTE_MASTER_KEY") or None
    if settings.accounts.encryption_key is None:
        settings.accounts.encryption_key = environ.get("HUBROUTE_ENCRYPTION_KEY") or None
    if settings.store.url is None:
        from hubroute.store import default_url

        settings.store.url = environ.get("HUBROUTE_STORE_URL") or default_url(environ)
    if settings.redis.url is None:
        settings.redis.url = environ.get("HUBROUTE_REDIS_URL") or None


def _resolve_env(value: Any, environ: Mapping[str, str], path: str) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name not in environ:
            raise ConfigError(path, f"environment variable {name} is not set")
        return environ[name]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(path, f"key {k!r} must be a string")
            out[k] = _resolve_env(v, environ, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, list):
        return [_resolve_env(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _config_error(message: str, prefix: str = "") -> ConfigError:
    """msgspec says 'Expected `int`, got `str` - at `$.server.port`'; we say 'server.port: ...'."""
    match = _AT.match(message)
    assert match is not None
    path = prefix + (match.group("path") or "") if prefix else (match.group("path") or "").lstrip(".")
    problem = match.group("problem")
    if problem.startswith("Object contains unknown field"):
        field = problem.split("`")[1]
        return ConfigError(f"{path}.{field}" if path else field, "unknown key")
    if problem.startswith("Object missing required field"):
        field = problem.split("`")[1]
        return ConfigError(f"{path}.{field}" if path else field, "is required")
    return ConfigError(path, problem[0].lower() + problem[1:] if problem else "invalid value")


def _check_url(key: str, url: str) -> None:
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(key, f"{url!r} is not an http(s) URL")
