"""Prometheus metrics of one router process (`GET /metrics`).

Each App gets its own CollectorRegistry, so several apps (tests) never collide. Label values are
bounded: `model` is a catalog id (unknown names are counted as "unknown"), `provider` a registry or
config name, `route` one of the app's routes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hubroute.errors import ProviderError
from hubroute.providers import Target
from hubroute.routing.health import Health

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, health: Health) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hubroute_requests", "Requests answered, by route, model, provider and HTTP status",
            ("route", "model", "provider", "status"), registry=r,
        )
        self.latency = Histogram(
            "hubroute_request_duration_seconds", "Time from request to the last byte of the answer",
            ("route", "provider"), buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.ttft = Histogram(
            "hubroute_time_to_first_token_seconds", "Time from upstream request to its first byte / event",
            ("provider",), buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.failovers = Counter(
            "hubroute_failovers", "Failed upstream attempts that moved a request to another provider or ended it",
            ("model", "provider", "reason"), registry=r,
        )
        self.circuits_opened = Counter(
            "hubroute_circuit_opened", "Times a provider x model circuit opened", ("model", "provider"), registry=r,
        )
        self.tokens = Counter(
            "hubroute_tokens", "Tokens reported by providers", ("model", "provider", "kind"), registry=r,
        )
        self._request_children: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}
        self._ttft_children: dict[str, Histogram] = {}
        self._token_children: dict[tuple[str, str], tuple[Counter, Counter]] = {}
        open_circuits = Gauge("hubroute_open_circuits", "Provider x model circuits currently open", registry=r)
        open_circuits.set_function(lambda: len(health.open_circuits()))

    def request_done(self, route: str, model: str, provider: str, status: int, elapsed: float | None) -> None:
        """Count one answered request; label children are cached (labels() costs a lock + hashing)."""
        key = (route, model, provider, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = (
                self.requests.labels(route, model, provider, str(status)),
                self.latency.labels(route, provider),
            )
        child[0].inc()
        if elapsed is not None:
            child[1].observe(elapsed)

    def first_byte(self, provider: str, seconds: float) -> None:
        child = self._ttft_children.get(provider)
        if child is None:
            child = self._ttft_children[provider] = self.ttft.labels(provider)
        child.observe(seconds)

    def count_tokens(self, model: str, provider: str, prompt: int | None, completion: int | None) -> None:
        key = (model, provider)
        children = self._token_children.get(key)
        if children is None:
            children = self._token_children[key] = (
                self.tokens.labels(model, provider, "prompt"), self.tokens.labels(model, provider, "completion"),
            )
        if prompt:
            children[0].inc(prompt)
        if completion:
            children[1].inc(completion)

    # Observer protocol (hubroute.routing.router)
    def attempt_failed(self, target: Target, error: ProviderError) -> None:
        self.failovers.labels(target.model, target.name, error.code or "error").inc()

    def circuit_opened(self, target: Target) -> None:
        self.circuits_opened.labels(target.model, target.name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
