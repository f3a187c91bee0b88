"""One record per request, on every route: what was asked, who asked, who served it, what it used and
cost, how it ended. Routes fill it in as they go (`planned`, `served`, `used`); the app emits it once,
when the request ends, to its sinks (metrics, the access log, later the usage ledger).

A sink is a plain callable `sink(record) -> None`: it runs on the event loop when the request ends,
so it must not wait on I/O (a sink that writes somewhere hands the record to a queue or a batch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hubroute.errors import scrub
from hubroute.server.auth import ANONYMOUS, Principal
from hubroute.usage import total

if TYPE_CHECKING:
    from hubroute.catalog import Pricing
    from hubroute.errors import ProviderError
    from hubroute.providers import Target
    from hubroute.routing.router import Plan
    from hubroute.server.billing import Hold
    from hubroute.server.limits import Admission
    from hubroute.server.table import Route
    from hubroute.store.shared_limits import Asking, SharedAdmission
    from hubroute.usage import Usage

Headers = list[tuple[bytes, bytes]]
Sink = Callable[["RequestRecord"], None]


class RequestRecord:
    """Everything known about one request. (A plain class: the fields a request does not set keep
    their class-level default, so making one costs a few assignments.)"""

    #: HTTP status answered (0 until the head is sent)
    status: int = 0
    principal: Principal = ANONYMOUS
    #: the model name as the client wrote it (alias, suffix and all)
    requested: str | None = None
    #: the Hub id (or alias target) the request resolved to, then the one that served it
    model: str | None = None
    provider: str | None = None
    #: the provider's own id of the model that served it
    provider_model: str | None = None
    task: str | None = None
    #: providers tried (circuit-open ones skipped are not attempts); failovers = attempts - 1
    attempts: int = 0
    ttfb: float | None = None
    duration: float | None = None
    usage: Usage | None = None
    cost: float | None = None
    #: the error code the request ended with (`client_disconnected` when the client went away)
    error: str | None = None
    #: the organisation billed (X-HF-Bill-To, the key's default, or the owner of a service key)
    billed_org: str | None = None
    #: what the billed account's credits were charged, nano-dollars (None: credits not in use)
    charged: int | None = None
    #: the request's reservation on credits and budgets (`server.billing`), settled when it ends
    hold: Hold | None = None
    #: the providers it would reach with its caller's own keys, and whether one of those served it
    byok_providers: frozenset[str] = frozenset()
    byok: bool = False
    #: its place under its rate limits (`server.limits`), given back when it ends
    admission: Admission | SharedAdmission | None = None
    #: its admission under limits kept in Redis, prepared and not asked yet (`App.admit`)
    asking: Asking | None = None
    #: headers every answer to it carries (the key's x-ratelimit-*)
    extra_headers: Sequence[tuple[bytes, bytes]] = ()

    def __init__(self, request_id: str, method: str, path: str, route: Route | None,
                 headers: dict[bytes, bytes] | None = None, query: bytes = b"") -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        self.route = route
        self.headers: dict[bytes, bytes] = {} if headers is None else headers
        self.query = query
        self.started = time.perf_counter()

    @property
    def surface(self) -> str:
        """The API the request came through (the route's label: chat, embeddings, task, ...)."""
        return self.route.label if self.route is not None else "unknown"

    @property
    def params(self) -> dict[str, str]:
        """The values of the route's path parameters (`/admin/v1/users/{user}`)."""
        return self.route.params(self.path) if self.route is not None else {}

    @property
    def failovers(self) -> int:
        return max(self.attempts - 1, 0)

    # --- filled in by the routes ------------------------------------------------------------------
    def planned(self, plan: Plan) -> None:
        self.requested = plan.requested
        self.model = plan.model
        self.task = plan.task

    def served(self, target: Target, ttfb: float | None, errors: list[ProviderError]) -> None:
        """Who served the request, how fast, after how many failed attempts."""
        self.provider = target.name
        self.model = target.model
        self.provider_model = target.provider_model
        self.task = target.task
        self.ttfb = ttfb
        self.attempts = tried(errors) + 1 if errors else 1

    def used(self, usage: Usage | None, pricing: Pricing | None) -> None:
        self.usage = usage
        self.cost = usage.cost(pricing) if usage is not None and pricing is not None else None

    def used_in_rounds(self, rounds: Sequence[tuple[Usage | None, Pricing | None]]) -> None:
        """What a request answered by several provider calls used (a Responses request running MCP
        tools: a call a round): their usage summed, and their costs, each at its provider's price."""
        self.usage = total(usage for usage, _ in rounds)
        costs = [cost for usage, pricing in rounds if usage is not None
                 and (cost := usage.cost(pricing)) is not None]
        self.cost = round(sum(costs), 10) if costs else None

    def failed(self, errors: list[ProviderError]) -> None:
        """Every candidate failed: the attempts made."""
        self.attempts = tried(errors)

    def response_headers(self, extra: Headers = ()) -> Headers:  # type: ignore[assignment]
        out: Headers = [(b"x-request-id", self.request_id.encode())]
        if self.provider:
            out.append((b"x-inference-provider", self.provider.encode()))
        out.extend(extra)
        if self.extra_headers:
            out.extend(self.extra_headers)
        return out

    # --- emitted ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The record as the access log writes it (only what is known). What a client wrote (the
        path, the model names) is scrubbed of anything that looks like a key: one pasted as a model
        name must not reach a log."""
        fields: dict[str, Any] = {
            "request_id": scrub(self.request_id),
            "method": self.method,
            "path": scrub(self.path),
            "surface": self.surface,
            "status": self.status,
        }
        if self.duration is not None:
            fields["latency_ms"] = round(self.duration * 1000, 3)
        p = self.principal
        if p.key_id is not None:
            fields["key_id"] = p.key_id
        if p.user is not None:
            fields["user"] = p.user
        if p.org is not None:
            fields["org"] = p.org
        for key in ("requested", "model", "provider_model"):
            value = getattr(self, key)
            if value is not None:
                fields[key] = scrub(value)
        for key in ("provider", "task", "error"):
            value = getattr(self, key)
            if value is not None:
                fields[key] = value
        if self.ttfb is not None:
            fields["ttfb_ms"] = round(self.ttfb * 1000, 3)
        if self.attempts:
            fields["attempts"] = self.attempts
            fields["failovers"] = self.failovers
        if self.usage is not None:
            fields["usage"] = self.usage.to_json()
        if self.cost is not None:
            fields["cost_usd"] = self.cost
        return fields


def tried(errors: list[ProviderError]) -> int:
    """Attempts among failed candidates (a circuit-open provider skipped is not one)."""
    if not errors:
        return 0
    return sum(1 for e in errors if e.code != "circuit_open")
